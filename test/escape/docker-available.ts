// Whether a docker engine answers and labproof's host image is there: the suite does not build it.
import { spawnSync } from 'node:child_process'

export async function dockerAnswers(): Promise<boolean> {
  if (spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8', timeout: 10_000 }).status !== 0) return false
  const images = spawnSync('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}', 'labproof/host'], { encoding: 'utf8', timeout: 10_000 })
  return images.stdout.trim().length > 0
}
