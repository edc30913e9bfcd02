// The floor must do the work labproof does: every document command should exit as it did
// under labproof. A difference (a command that failed only in the floor) is reported.
import type { ExecResult } from '../harness/host.ts'
import type { FloorCommand } from './floor-script.ts'

export interface FloorMismatch {
  step: number
  target: string
  command: string
  labproof: number | 'not found'
  floor: number | 'not run'
  /** In the floor with its checks' commands (floorWithChecksCommands). */
  withChecks?: true
}

export function compareFloor(commands: FloorCommand[], floorExits: (number | undefined)[], transcripts: Map<number, ExecResult[]>): FloorMismatch[] {
  const used = new Set<ExecResult>()
  const mismatches: FloorMismatch[] = []
  commands.forEach((c, i) => {
    const [host, netns] = c.target.split('/')
    const ran = (transcripts.get(c.step) ?? []).find((r) => !used.has(r) && r.command === c.command && r.host === host && r.netns === netns)
    if (ran) used.add(ran)
    const floor = floorExits[i]
    if (!ran || floor !== ran.exitCode) {
      mismatches.push({ step: c.step, target: c.target, command: c.command, labproof: ran ? ran.exitCode : 'not found', floor: floor ?? 'not run' })
    }
  })
  return mismatches
}
