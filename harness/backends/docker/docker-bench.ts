// Whether `npm run bench` can measure docker here: an engine that answers and labproof's host
// image already built (the benchmark builds nothing).
import type { BenchReadiness } from '../entry.ts'
import { dockerClient, hostImageTag } from './docker-image.ts'
import { DEFAULT_DISTRO } from './docker-options.ts'

export async function dockerBenchReady(): Promise<BenchReadiness> {
  const image = hostImageTag(DEFAULT_DISTRO)
  try {
    const client = await dockerClient()
    await client.ping()
    try {
      await client.getImage(image).inspect()
    } catch {
      return { available: false, detail: `image ${image} not built (the benchmark builds nothing: run \`npx labproof image build\`)` }
    }
    return { available: true, detail: image }
  } catch (e) {
    return { available: false, detail: `no engine answers: ${(e as Error).message.split('\n')[0]}` }
  }
}
