// Which backends the benchmark can measure here. It never builds anything: docker needs an
// engine that answers and labproof's host image already built; qemu (only with --qemu: VMs
// under TCG are slow) needs its VM image in the cache.
import { access } from 'node:fs/promises'
import path from 'node:path'

export interface BackendAvailability {
  backend: string
  available: boolean
  /** Why it is left out, or what it runs on. */
  detail: string
}

export async function availableBackends(opts: { qemu: boolean; only?: string[] }): Promise<BackendAvailability[]> {
  const wanted = opts.only ?? ['netns', 'docker', ...(opts.qemu ? ['qemu'] : [])]
  const found: BackendAvailability[] = []
  for (const backend of wanted) {
    if (backend === 'netns') found.push(netns())
    else if (backend === 'docker') found.push(await docker())
    else if (backend === 'qemu') found.push(await qemu())
    else found.push({ backend, available: false, detail: 'not a backend the benchmark knows' })
  }
  return found
}

function netns(): BackendAvailability {
  const root = process.getuid?.() === 0
  return { backend: 'netns', available: root, detail: root ? 'network namespaces on this kernel' : 'needs root' }
}

async function docker(): Promise<BackendAvailability> {
  const { dockerClient, hostImageTag, DEFAULT_DISTRO } = await import('../harness/backends/docker/docker-image.ts')
  const image = hostImageTag(DEFAULT_DISTRO)
  try {
    const client = await dockerClient()
    await client.ping()
    try {
      await client.getImage(image).inspect()
    } catch {
      return { backend: 'docker', available: false, detail: `image ${image} not built (the benchmark builds nothing: run \`npx labproof image build\`)` }
    }
    return { backend: 'docker', available: true, detail: image }
  } catch (e) {
    return { backend: 'docker', available: false, detail: `no engine answers: ${(e as Error).message.split('\n')[0]}` }
  }
}

async function qemu(): Promise<BackendAvailability> {
  const { cacheRoot, recipeHash, DEFAULT_VM_KERNEL } = await import('../harness/backends/shared/vm-image.ts')
  const dir = path.join(cacheRoot(), `${DEFAULT_VM_KERNEL}-${recipeHash()}`)
  try {
    await access(path.join(dir, 'image.json'))
    return { backend: 'qemu', available: true, detail: `VM image ${dir}` }
  } catch {
    return { backend: 'qemu', available: false, detail: `no cached VM image in ${dir} (run ci/build-vm-image.sh)` }
  }
}
