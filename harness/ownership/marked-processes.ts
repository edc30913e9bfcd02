// The processes of this machine whose command line carries a labproof marker (`MARKER:lab:owner:…`),
// found the way the sweep before every run finds its leftovers. Read synchronously: /proc's files
// are made on demand in memory, and a few hundred tiny reads in a row cost a few milliseconds,
// where one awaited read each cost the run's start a few hundred.
import { readdirSync, readFileSync } from 'node:fs'

export interface MarkedProcess {
  pid: number
  /** The marker's fields after the marker itself: lab id, owner tag, and what the backend adds. */
  fields: string[]
}

export function markedProcesses(marker: string): MarkedProcess[] {
  const found: MarkedProcess[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let cmdline: string
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'latin1')
    } catch {
      continue // ended meanwhile
    }
    const arg = cmdline.split('\0').find((a) => a.startsWith(`${marker}:`))
    if (arg) found.push({ pid: Number(entry), fields: arg.split(':').slice(1) })
  }
  return found
}
