// Whether a docker engine answers and labproof's host image is there: the suite does not build it.
import { spawnSync } from 'node:child_process'

/** Why the docker part of the escape suite cannot run here, or undefined when it can. */
export function dockerMissingForEscape(): string | undefined {
  const version = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8', timeout: 10_000 })
  if (version.status !== 0) return `no docker engine answers (${(version.stderr || version.error?.message || '').trim().split('\n')[0]})`
  const images = spawnSync('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}', 'labproof/host'], { encoding: 'utf8', timeout: 10_000 })
  return images.stdout.trim().length > 0 ? undefined : "labproof's host image is missing (labproof image build, or ci/setup.sh)"
}

export async function dockerAnswers(): Promise<boolean> {
  return dockerMissingForEscape() === undefined
}
