// netns nodes whose labproof process is gone. They normally die with it (pdeathsig); this is the
// backstop for `labproof clean` and the sweep before a run. Found by the marker on their command
// line (`labproof-netns:<lab>:<owner tag>:<hostname>`), killed by PID.
import { markedProcesses } from '../../ownership/marked-processes.ts'
import { ownerAlive, parseOwnerTag } from '../../ownership/owner.ts'
import { NETNS_MARKER } from '../shared/namespace-node.ts'

export async function reapNetnsLeftovers(): Promise<string[]> {
  const removed: string[] = []
  for (const { pid, fields: [labId, owner, hostname] } of markedProcesses(NETNS_MARKER)) {
    const parsed = parseOwnerTag(owner ?? '')
    if (!parsed || ownerAlive(parsed)) continue
    try {
      process.kill(pid, 'SIGKILL')
      removed.push(`netns host ${hostname} of lab ${labId} (pid ${pid})`)
    } catch {
      // exited meanwhile
    }
  }
  return removed
}
