// The benchmark's results as JSON (everything, samples included) and as a Markdown table.
import type { MachineFacts } from './machine.ts'
import { formatSpread, type Spread } from './stats.ts'
import type { FloorMismatch } from './floor-check.ts'

export interface ScenarioResult {
  id: string
  /** Planned steps, and those that ran (the rest were skipped with a reason). */
  steps: number
  ran: number
  floorCommands: number
  floorScripts: number
  provisionMs: Spread
  /** ScenarioEngine: start, every step, stop. */
  labproofMs: Spread
  labproofStepsMs: Spread
  labproofCpuMs: Spread
  /** The floor: provision, the document commands as plain scripts, destroy. */
  floorMs: Spread
  floorCommandsMs: Spread
  floorCpuMs: Spread
  /** labproof / floor, per repetition (paired runs), both including provisioning and teardown. */
  ratio: Spread
  /** The floor with the commands the checks ran (floorWithChecksCommands): the claims' own cost.
   *  Absent in results written before it was measured (a backend carried over). */
  floorWithChecksCommands?: number
  floorWithChecksMs?: Spread
  /** floor with checks / floor, per repetition: what the evidence alone adds to the lab. */
  checksRatio?: Spread
  /** labproof / floor with checks, per repetition: what labproof's machinery adds to both. */
  ratioToFloorWithChecks?: Spread
  /** (labproof − floor) / steps that ran, per repetition. */
  overheadPerStepMs: Spread
  /** `npx labproof run ID`: the CLI's start and its reports included. */
  cliMs?: Spread
  cliCpuMs?: Spread
  failures: string[]
  floorMismatches: FloorMismatch[]
}

export interface BackendResult {
  backend: string
  /** When, how and at what load this backend was measured: set on a backend carried over from
   *  an earlier run into this file (a run measures only the backends it names). */
  measured?: { date: string; command: string; loadAtStart: number[]; loadAtEnd?: number[] }
  detail: string
  reps: number
  scenarios: ScenarioResult[]
  /** `npx labproof run`: every scenario, in parallel on separate labs. */
  suiteMs?: Spread
  suiteCpuMs?: Spread
  suiteTests?: string
  suiteFailures: string[]
}

export interface BenchResults {
  machine: MachineFacts
  command: string
  notes: string[]
  backends: BackendResult[]
  skippedBackends: { backend: string; detail: string }[]
}

export function toMarkdown(r: BenchResults): string {
  const m = r.machine
  const lines = [
    `# labproof benchmark`,
    '',
    `${m.date.slice(0, 16).replace('T', ' ')} UTC · ${m.nproc} cores, ${m.memoryGiB} GiB · ${m.distro} · kernel ${m.kernel} · node ${m.node} · ` +
      `load average ${m.loadAtStart.join(' ')} at the start, ${m.loadAtEnd?.join(' ') ?? '?'} at the end · \`${r.command}\``,
    '',
    'Times: median (min–max) over the repetitions. **labproof**: ScenarioEngine start, every step, stop. ' +
      '**floor**: the same document commands (bounded as labproof bounds them, errata corrections included) as one plain ' +
      '`sh` script per run of commands on one host, on a freshly provisioned lab, no checks, no captures. Both include ' +
      'provisioning and teardown; **ratio** = labproof / floor per repetition; **overhead/step** = (labproof − floor) / steps run. ' +
      '**floor+checks**: the floor with, in their places, the commands the checks and errata evidence ran under labproof ' +
      '(reads, pings with their waits), as the same plain scripts: what the claims cost with none of labproof\'s machinery ' +
      '(round trips, captures, the capability probe); **checks ratio** = floor+checks / floor; **machinery ratio** = labproof / floor+checks. ' +
      '**CLI**: `npx labproof run ID`, the start of the command and its reports included. **CPU**: user + system time of labproof and every process it ran ' +
      '(medians; less sensitive than wall time to other load on the machine).',
    '',
  ]
  for (const b of r.backends) {
    lines.push(`## ${b.backend} (${b.detail}), ${b.reps} repetitions`, '')
    if (b.measured) {
      lines.push(`Carried over from an earlier run: ${b.measured.date.slice(0, 16).replace('T', ' ')} UTC · load average ${b.measured.loadAtStart.join(' ')} at the start` +
        `${b.measured.loadAtEnd ? `, ${b.measured.loadAtEnd.join(' ')} at the end` : ''} · \`${b.measured.command}\``, '')
    }
    if (b.scenarios.length) lines.push(...scenarioTable(b))
    if (b.suiteMs) lines.push(`Whole suite, \`npx labproof run --backend ${b.backend}\` (scenarios in parallel on separate labs): **${formatSpread(b.suiteMs, 's')} s**, CPU ${b.suiteCpuMs ? secs(b.suiteCpuMs.median) : '?'} s (${b.suiteTests}).`, '')
    const problems = [
      ...b.scenarios.flatMap((s) => s.failures.map((f) => `${s.id}: ${f}`)),
      ...b.suiteFailures,
      ...b.scenarios.flatMap((s) => s.floorMismatches.map((x) => `${s.id}: ${x.withChecks ? 'floor with checks' : 'floor'} differs at step ${x.step} [${x.target}] \`${x.command}\`: labproof exit ${x.labproof}, floor exit ${x.floor}`)),
    ]
    if (problems.length) lines.push('Problems:', '', ...problems.map((p) => `- ${p}`), '')
  }
  for (const s of r.skippedBackends) lines.push(`Not measured: ${s.backend} — ${s.detail}.`, '')
  if (r.notes.length) lines.push(...r.notes.map((n) => `- ${n}`), '')
  return lines.join('\n')
}

function scenarioTable(b: BackendResult): string[] {
  const lines: string[] = []
  lines.push('| scenario | steps run | provision ms | labproof s | floor s | ratio | floor+checks s | checks ratio | machinery ratio | overhead/step ms | CLI s | CPU s labproof / floor / CLI |')
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const s of b.scenarios) {
    const withChecks = s.floorWithChecksMs && s.checksRatio && s.ratioToFloorWithChecks
      ? [formatSpread(s.floorWithChecksMs, 's'), ratio(s.checksRatio), ratio(s.ratioToFloorWithChecks)]
      : ['–', '–', '–']
    lines.push(`| ${s.id} | ${s.ran}/${s.steps} | ${formatSpread(s.provisionMs)} | ${formatSpread(s.labproofMs, 's')} | ${formatSpread(s.floorMs, 's')} | ` +
      `${ratio(s.ratio)} | ${withChecks.join(' | ')} | ${formatSpread(s.overheadPerStepMs)} | ${s.cliMs ? formatSpread(s.cliMs, 's') : '–'} | ` +
      `${secs(s.labproofCpuMs.median)} / ${secs(s.floorCpuMs.median)} / ${s.cliCpuMs ? secs(s.cliCpuMs.median) : '–'} |`)
  }
  const total = (pick: (s: ScenarioResult) => Spread) => b.scenarios.reduce((sum, s) => sum + pick(s).median, 0)
  const labproof = total((s) => s.labproofMs)
  const floor = total((s) => s.floorMs)
  const withChecks = b.scenarios.every((s) => s.floorWithChecksMs) ? total((s) => s.floorWithChecksMs!) : undefined
  const withChecksCells = withChecks ? [(withChecks / 1000).toFixed(2), (withChecks / floor).toFixed(2), (labproof / withChecks).toFixed(2)] : ['–', '–', '–']
  const ran = b.scenarios.reduce((sum, s) => sum + s.ran, 0)
  lines.push(`| **all, one after another** | ${ran}/${b.scenarios.reduce((sum, s) => sum + s.steps, 0)} | | ${(labproof / 1000).toFixed(2)} | ${(floor / 1000).toFixed(2)} | ` +
    `${(labproof / floor).toFixed(2)} | ${withChecksCells.join(' | ')} | ${Math.round((labproof - floor) / ran)} | | ${secs(total((s) => s.labproofCpuMs))} / ${secs(total((s) => s.floorCpuMs))} / |`)
  lines.push('')
  return lines
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(2)
}

function ratio(s: Spread): string {
  return s.n === 0 ? '–' : s.n === 1 ? s.median.toFixed(2) : `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`
}
