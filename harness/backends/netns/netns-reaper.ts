// netns nodes whose labproof process is gone. They normally die with it (pdeathsig); this is the
// backstop for `labproof clean` and the sweep before a run. Found by the marker on their command
// line (`labproof-netns:<lab>:<owner tag>:<hostname>`), killed by PID.
import { readdir, readFile } from 'node:fs/promises'
import { ownerAlive, parseOwnerTag } from '../../ownership/owner.ts'
import { NETNS_MARKER } from '../shared/namespace-node.ts'

export async function reapNetnsLeftovers(): Promise<string[]> {
  const removed: string[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')
    const marker = cmdline.split('\0').find((a) => a.startsWith(`${NETNS_MARKER}:`))
    if (!marker) continue
    const [, labId, owner, hostname] = marker.split(':')
    const parsed = parseOwnerTag(owner)
    if (!parsed || ownerAlive(parsed)) continue
    try {
      process.kill(Number(entry), 'SIGKILL')
      removed.push(`netns host ${hostname} of lab ${labId} (pid ${entry})`)
    } catch {
      // exited meanwhile
    }
  }
  return removed
}
