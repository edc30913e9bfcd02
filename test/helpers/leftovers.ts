// What labproof could leave on this machine: its netns host processes, and tcpdump processes.
import { readdirSync, readFileSync } from 'node:fs'
import { NETNS_MARKER } from '../../harness/backends/netns.ts'

export function netnsNodePids(filter: { labId?: string; owner?: number } = {}): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let cmdline = ''
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
    } catch {
      continue
    }
    const marker = cmdline.split('\0').find((a) => a.startsWith(`${NETNS_MARKER}:`))
    if (!marker) continue
    const [, labId, owner] = marker.split(':')
    if ((!filter.labId || labId === filter.labId) && (!filter.owner || Number(owner) === filter.owner)) pids.push(Number(entry))
  }
  return pids
}
