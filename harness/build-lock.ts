// One builder at a time per cached artefact (VM image, Vagrant box), across processes: a lock
// directory holding the owner's PID, taken over when that owner is dead.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isAlive } from './process-alive.ts'

export async function withBuildLock<T>(lockDir: string, progress: (line: string) => void, work: () => Promise<T>): Promise<T> {
  for (let waitedMs = 0; ; waitedMs += 1000) {
    try {
      await mkdir(lockDir)
      await writeFile(join(lockDir, 'pid'), String(process.pid))
      break
    } catch {
      const owner = Number(await readFile(join(lockDir, 'pid'), 'utf8').catch(() => '0'))
      if (owner && !isAlive(owner)) {
        await rm(lockDir, { recursive: true, force: true })
        continue
      }
      if (waitedMs % 30_000 === 0) progress(`waiting for process ${owner || '?'} that is building ${lockDir.replace(/\.lock$/, '')}`)
      await new Promise((r) => setTimeout(r, 1000))
    }
  }
  try {
    return await work()
  } finally {
    await rm(lockDir, { recursive: true, force: true })
  }
}
