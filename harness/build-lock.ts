// One builder at a time per cached artefact (VM image, Vagrant box), across processes: the
// ownership lock on a file beside the artefact.
import { withLock } from './ownership/lock.ts'

export function withBuildLock<T>(lockFile: string, progress: (line: string) => void, work: () => Promise<T>): Promise<T> {
  const artefact = lockFile.replace(/\.lock$/, '')
  return withLock(lockFile, { purpose: `building ${artefact}`, onWait: (holder) => progress(`waiting for ${holder}`) }, work)
}
