// The floor of a scenario: its document commands alone, bounded exactly as labproof bounds
// them, with the erratum corrections (after the verbatim command, as labproof runs them), as
// one plain sh script per run of consecutive commands on the same host. No checks, no
// captures, no expectations: what the lab itself costs. With its checks' own commands
// (floorWithChecksCommands): what the lab and the evidence for its claims cost.
import { hostScript } from '../harness/base-host.ts'
import type { ExecResult } from '../harness/host.ts'
import { boundCommand } from '../harness/scenario/bounded.ts'
import type { PlannedStep } from '../harness/scenario/plan.ts'
import { isRunStep } from '../harness/scenario/schema.ts'

export interface FloorCommand {
  step: number
  /** `host01` or `host01/ns1`, as in the scenario. */
  target: string
  /** The command as labproof runs it (bounded). */
  command: string
  input?: string
  timeoutMs?: number
}

export interface FloorSegment {
  host: string
  commands: FloorCommand[]
  script: string
}

/** The document commands labproof runs for the steps `ran`, in order. */
export function floorCommands(plan: PlannedStep[], ran: (stepNumber: number) => boolean): FloorCommand[] {
  const commands: FloorCommand[] = []
  for (const { number, step } of plan) {
    if (!isRunStep(step) || !ran(number)) continue
    const common = { step: number, ...(step.input !== undefined ? { input: step.input } : {}), ...(step.timeoutMs ? { timeoutMs: step.timeoutMs } : {}) }
    commands.push({ ...common, target: step.on, command: boundCommand(step.run).command })
    if (step.erratum) commands.push({ ...common, target: step.erratum.on ?? step.on, command: boundCommand(step.erratum.corrected).command })
  }
  return commands
}

/** The floor with the evidence: the floor's commands and, in each step's order as it ran under
 *  labproof (its transcript), every command its checks and its erratum's evidence ran (reads,
 *  pings with their waits). What the scenario's claims cost with none of labproof's own
 *  machinery: no round trip per command, no capture, no capability probe. */
export function floorWithChecksCommands(plan: PlannedStep[], ran: (stepNumber: number) => boolean, transcripts: Map<number, ExecResult[]>): FloorCommand[] {
  const floor = floorCommands(plan, ran)
  const commands: FloorCommand[] = []
  for (const { number } of plan) {
    if (!ran(number)) continue
    const own = floor.filter((c) => c.step === number)
    for (const r of transcripts.get(number) ?? []) {
      const target = r.netns ? `${r.host}/${r.netns}` : r.host
      const document = own.findIndex((c) => c.command === r.command && c.target === target)
      commands.push(document >= 0 ? own.splice(document, 1)[0]! : { step: number, target, command: r.command })
    }
    commands.push(...own)
  }
  return commands
}

/** Consecutive commands on the same host become one script. */
export function floorSegments(commands: FloorCommand[]): FloorSegment[] {
  const segments: { host: string; commands: FloorCommand[] }[] = []
  for (const c of commands) {
    const host = c.target.split('/')[0]!
    const last = segments.at(-1)
    if (last?.host === host) last.commands.push(c)
    else segments.push({ host, commands: [c] })
  }
  return segments.map((s) => ({ ...s, script: floorScript(s.commands) }))
}

export const EXIT_MARKER = '@labproof-floor-exit'

/** Each command in a subshell (an `exit` or `cd` in the document stays its own), followed by
 *  its exit status on a line of its own, so the benchmark can tell the floor did the same work. */
export function floorScript(commands: FloorCommand[]): string {
  return commands.map((c, i) => {
    const netns = c.target.split('/')[1]
    // In a namespace as labproof enters it (base-host.ts hostScript: `ip -n`, else `ip netns exec`).
    const body = netns ? hostScript(c.command, netns) : `(\n${c.command}\n)`
    const input = c.input !== undefined ? ` <<'LABPROOF_FLOOR_INPUT'\n${c.input.endsWith('\n') ? c.input : `${c.input}\n`}LABPROOF_FLOOR_INPUT` : ''
    return `${body}${input}\nprintf '\\n${EXIT_MARKER} ${i} %s\\n' "$?"`
  }).join('\n')
}

/** Exit statuses by command index, from a floor script's output. */
export function floorExitCodes(stdout: string): Map<number, number> {
  const codes = new Map<number, number>()
  for (const m of stdout.matchAll(new RegExp(`^${EXIT_MARKER} (\\d+) (\\d+)$`, 'gm'))) codes.set(Number(m[1]), Number(m[2]))
  return codes
}
