// A document's review, pure: each claim the scenario names and each command of the document,
// with its verdict from the merged run records of every backend (review/records.ts), the
// evidence (step, what came back, pcaps) and, for a defect, the correction and why. The rules
// are CLAIMS.md's (issue 20): a step counts as run by whichever backend ran it, and "not run
// yet" says which backend can.
import { FEATURE_NOT_USABLE } from '../host.ts'
import type { LoadedScenario } from '../scenario/loader.ts'
import { planSteps, type PlannedStep } from '../scenario/plan.ts'
import { stepTitle } from '../scenario/run-step.ts'
import { isRunStep, type Claim } from '../scenario/schema.ts'
import type { CellHosts, ScenarioRecords, StepRun } from './records.ts'

export type ClaimVerdict = 'confirmed' | 'refuted' | 'contradicted' | 'not run yet' | 'not testable here' | 'not asserted'
export type CommandVerdict = 'confirmed' | 'confirmed only as corrected' | 'failed' | 'not run yet'

/** What the runs showed for one step, over every backend. */
export interface StepEvidence {
  step: number
  /** The step as the scenario gives it: `[host01] ip link …` or the check's description. */
  title: string
  /** true: a command the scenario adds (not the document's). */
  added: boolean
  status: 'passed' | 'failed' | 'not run'
  /** The backends it passed on (`netns`, `qemu 6.1`), and failed on. */
  passedOn: string[]
  failedOn: string[]
  /** What came back: a passed run's summary, the failure's verdict, or why no run reached it. */
  cameBack: string
  /** For a step that failed: the whole failure message of the first run that failed. */
  failure?: string
  /** For a command with an erratum that passed: what the verbatim command did (and the checks
   *  showing the defect), from the first run that passed. */
  verbatimOutcome?: string
  pcaps: string[]
  /** Each backend's run of it. */
  runs: { on: string; kernel?: string; status: StepRun['status']; reason?: string; summary?: string }[]
}

export interface ClaimRow {
  kind: 'claim'
  id: string
  /** The document line(s) the claim is on. */
  line: number
  lastLine: number
  says: string
  holds: boolean
  verdict: ClaimVerdict
  /** The verdict in a sentence: `confirmed on qemu 6.1`, `not run yet: … try --backend qemu`. */
  detail: string
  evidence: StepEvidence[]
  correction?: string
  why?: string
  untestable?: string
  /** The document's own text at those lines, read at review time (never stored). */
  original?: string
  /** When the document is at hand and the line is past its end. */
  lineProblem?: string
}

export interface CommandRow {
  kind: 'command'
  step: number
  on: string
  command: string
  /** The command's line in the document, when the document is at hand. */
  line?: number
  verdict: CommandVerdict
  detail: string
  evidence: StepEvidence
  /** The claims this command is evidence for. */
  claims: string[]
  /** true: the scenario adds it (the document implies it); shown for its erratum. */
  added?: true
  erratum?: { corrected: string; why: string; outcome?: string }
}

export type ReviewRow = ClaimRow | CommandRow

export interface Coverage {
  claims: number
  /** Claims tied to at least one step. */
  asserted: number
  untestable: number
  commands: number
  /** Commands of the document some run ran verbatim (passed or failed). */
  runVerbatim: number
  claimVerdicts: Partial<Record<ClaimVerdict, number>>
  commandVerdicts: Partial<Record<CommandVerdict, number>>
}

export interface DocumentAtHand {
  file: string
  lines: string[]
  /** Step number → the document line (1-based) its command stands on. */
  commandLines: Map<number, number>
}

export interface DocumentReview {
  scenario: string
  title: string
  doc: string
  section: string
  /** Where the document was read from, or why it was not. */
  documentFile?: string
  documentNote?: string
  /** The backends whose records were merged: `netns (kernel 6.18.44)`. */
  backends: string[]
  coverage: Coverage
  rows: ReviewRow[]
}

export function reviewDocument(s: LoadedScenario, records: ScenarioRecords | undefined, doc?: DocumentAtHand | { missing: string }): DocumentReview {
  const plan = planSteps(s)
  const cells = records?.cells ?? []
  const evidence = new Map(plan.map((p) => [p.number, stepEvidence(s.id, p, records, cells)]))
  const atHand = doc && 'file' in doc ? doc : undefined

  const claimRows: ClaimRow[] = (s.claims ?? []).map((c) => claimRow(c, plan.filter((p) => p.step.claims?.includes(c.id)).map((p) => evidence.get(p.number)!), atHand))
  // The document's commands; and an added one with an erratum (a command the document implies
  // without giving it), since every erratum is a defect of the document.
  const commandRows: CommandRow[] = plan.filter((p) => isRunStep(p.step) && (!p.step.added || p.step.erratum)).map((p) => commandRow(p, evidence.get(p.number)!, atHand))

  return {
    scenario: s.id, title: s.title, doc: s.source.doc, section: s.source.section,
    ...(atHand ? { documentFile: atHand.file } : doc && 'missing' in doc ? { documentNote: doc.missing } : {}),
    backends: cells.map((c) => (c.kernel ? `${c.on} (kernel ${c.kernel})` : c.on)),
    coverage: coverage(claimRows, commandRows),
    rows: order(claimRows, commandRows, atHand !== undefined),
  }
}

function stepEvidence(scenarioId: string, p: PlannedStep, records: ScenarioRecords | undefined, cells: CellHosts[]): StepEvidence {
  const title = stepTitle(p.step)
  // A record of an older version of the scenario (its step N was another step) does not count.
  const all = records?.steps.get(p.number) ?? []
  const runs = all.filter((r) => !r.title || r.title === title)
  const stale = all.length - runs.length
  const passed = runs.filter((r) => r.status === 'passed')
  const failed = runs.filter((r) => r.status === 'failed')
  const base = {
    step: p.number, title, added: isRunStep(p.step) && p.step.added === true,
    passedOn: passed.map((r) => r.on), failedOn: failed.map((r) => r.on),
    pcaps: [...failed, ...passed].flatMap((r) => r.pcaps),
    runs: runs.map((r) => ({ on: r.on, ...(r.kernel ? { kernel: r.kernel } : {}), status: r.status, ...(r.reason ? { reason: r.reason } : {}), ...(r.summary ? { summary: r.summary } : {}) })),
  }
  if (failed.length) {
    return { ...base, status: 'failed', cameBack: `failed on ${failed.map((r) => `${r.on}: ${r.reason ?? 'no verdict recorded'}`).join('; ')}`, ...(failed[0]!.message ? { failure: failed[0]!.message } : {}) }
  }
  if (passed.length) {
    const outcome = passed.find((r) => r.erratum)?.erratum?.outcome
    return { ...base, status: 'passed', cameBack: passed[0]!.summary ?? 'passed', ...(outcome ? { verbatimOutcome: outcome } : {}) }
  }
  const why = runs.map((r) => (r.status === 'running' ? `interrupted on ${r.on} while it ran` : `skipped on ${r.on}: ${r.reason ?? 'no reason recorded'}`))
  if (stale) why.push(`${stale} record${stale > 1 ? 's' : ''} of an older version of the scenario (its step ${p.number} was another step) not counted`)
  if (!runs.length && !stale) why.push('no run in the results reached it')
  // Blocked by a failure on every backend that reached it: the failure is what to fix first.
  const blocked = runs.length > 0 && runs.every((r) => r.reason?.startsWith('blocked by'))
  const lacks = p.requires.kernel.some((f) => cells.some((c) => c.missing.includes(f)))
  return { ...base, status: 'not run', cameBack: blocked && !lacks ? why.join('; ') : `${why.join('; ')}; ${whoCanRun(scenarioId, p, cells)}` }
}

/** Which backend can run a step no run reached, from what it needs and what the recorded
 *  backends' hosts lacked. */
export function whoCanRun(scenarioId: string, p: PlannedStep, cells: CellHosts[]): string {
  const lacked = p.requires.kernel.filter((f) => cells.some((c) => c.missing.includes(f)))
  if (lacked.length) {
    const lacking = cells.filter((c) => lacked.some((f) => c.missing.includes(f)))
    const needs = `needs ${lacked.join(', ')}, which ${lacking.map((c) => c.on).join(', ')} lack${lacking.length === 1 ? 's' : ''}`
    // Only a VM backend boots a kernel of its own; a container limit (FEATURE_NOT_USABLE) is
    // lifted there too.
    if (lacking.some((c) => /^(qemu|vagrant)\b/.test(c.cell))) return `${needs}: no backend in these results has it`
    return `${needs}: try labproof run ${scenarioId} --backend qemu`
  }
  const tools = p.requires.tools.filter((t) => cells.some((c) => c.missingTools.includes(t)))
  if (tools.length) return `needs ${tools.join(', ')} on the hosts: install ${tools.length > 1 ? 'them' : 'it'}, then labproof run ${scenarioId}`
  const notUsable = p.requires.kernel.filter((f) => f in FEATURE_NOT_USABLE)
  return `labproof run ${scenarioId}${notUsable.length ? ` (needs ${notUsable.join(', ')}: netns or qemu, not docker)` : ''} runs it`
}

function claimRow(c: Claim, steps: StepEvidence[], doc: DocumentAtHand | undefined): ClaimRow {
  const [line, lastLine] = c.lines ?? [c.line!, c.line!]
  const row: Omit<ClaimRow, 'verdict' | 'detail'> = {
    kind: 'claim', id: c.id, line, lastLine, says: c.says, holds: c.holds, evidence: steps,
    ...(c.correction ? { correction: c.correction } : {}), ...(c.why ? { why: c.why } : {}), ...(c.untestable ? { untestable: c.untestable } : {}),
    ...documentText(doc, line, lastLine),
  }
  if (c.untestable) return { ...row, verdict: 'not testable here', detail: `not testable here: ${c.untestable}` }
  if (steps.length === 0) return { ...row, verdict: 'not asserted', detail: 'not asserted: no step of the scenario tests it' }
  const failed = steps.filter((e) => e.status === 'failed')
  if (failed.length) {
    return { ...row, verdict: 'contradicted', detail: `contradicted: ${failed.map((e) => `step ${e.step} ${e.cameBack}`).join('; ')} (the scenario's finding is in doubt)` }
  }
  const notRun = steps.filter((e) => e.status === 'not run')
  if (notRun.length) {
    const ran = steps.length - notRun.length
    return { ...row, verdict: 'not run yet', detail: `not run yet: ${ran ? `${ran} of ${steps.length} steps passed; ` : ''}${notRun.map((e) => `step ${e.step}: ${e.cameBack}`).join('; ')}` }
  }
  const verdict = c.holds ? 'confirmed' : 'refuted'
  return { ...row, verdict, detail: `${verdict} ${where(steps)}` }
}

/** `on qemu 6.1` when one backend passed every step, else each step's backends. */
function where(steps: StepEvidence[]): string {
  const common = steps.map((e) => e.passedOn).reduce((a, b) => a.filter((x) => b.includes(x)))
  if (common.length) return `on ${[...new Set(common)].join(' and ')}`
  return `on ${steps.map((e) => `${[...new Set(e.passedOn)].join(' and ')} (step ${e.step})`).join(', ')}`
}

function documentText(doc: DocumentAtHand | undefined, line: number, lastLine: number): { original?: string; lineProblem?: string } {
  if (!doc) return {}
  if (lastLine > doc.lines.length) return { lineProblem: `line ${lastLine} is past the end of the document (${doc.lines.length} lines)` }
  return { original: doc.lines.slice(line - 1, lastLine).map((l) => l.trim()).filter(Boolean).join('\n') }
}

function commandRow(p: PlannedStep, e: StepEvidence, doc: DocumentAtHand | undefined): CommandRow {
  if (!isRunStep(p.step)) throw new Error('a command row needs a run step')
  const step = p.step
  const line = doc?.commandLines.get(p.number)
  const base = { kind: 'command' as const, step: p.number, on: step.on, command: step.run, ...(line ? { line } : {}), evidence: e, claims: step.claims ?? [], ...(step.added ? { added: true as const } : {}) }
  const erratum = step.erratum
    ? { corrected: step.erratum.on ? `[${step.erratum.on}] ${step.erratum.corrected}` : step.erratum.corrected, why: step.erratum.why, ...(e.verbatimOutcome ? { outcome: e.verbatimOutcome } : {}) }
    : undefined
  if (e.status === 'failed') return { ...base, verdict: 'failed', detail: e.cameBack, ...(erratum ? { erratum } : {}) }
  if (e.status === 'not run') return { ...base, verdict: 'not run yet', detail: `not run yet: ${e.cameBack}`, ...(erratum ? { erratum } : {}) }
  const on = [...new Set(e.passedOn)].join(' and ')
  if (erratum) return { ...base, verdict: 'confirmed only as corrected', detail: `the verbatim command did what the erratum says and the correction passed, on ${on}`, erratum }
  return { ...base, verdict: 'confirmed', detail: `ran verbatim and did what the document shows, on ${on}` }
}

function coverage(claims: ClaimRow[], commands: CommandRow[]): Coverage {
  const count = <T extends string>(vs: T[]) => vs.reduce<Partial<Record<T, number>>>((m, v) => ({ ...m, [v]: (m[v] ?? 0) + 1 }), {})
  return {
    claims: claims.length,
    asserted: claims.filter((c) => c.evidence.length > 0).length,
    untestable: claims.filter((c) => c.untestable).length,
    commands: commands.filter((c) => !c.added).length,
    runVerbatim: commands.filter((c) => !c.added && c.evidence.status !== 'not run').length,
    claimVerdicts: count(claims.map((c) => c.verdict)),
    commandVerdicts: count(commands.filter((c) => !c.added).map((c) => c.verdict)),
  }
}

/** Top to bottom as the document reads: by document line when the document is at hand (a
 *  claim after the command on its line; an added command after the command before it); without
 *  it, commands in the scenario's order and each claim after the first step that tests it, the
 *  others at the end by line. */
function order(claims: ClaimRow[], commands: CommandRow[], byLine: boolean): ReviewRow[] {
  const lineOf = new Map<number, number>()
  let last = 0
  for (const c of [...commands].sort((a, b) => a.step - b.step)) lineOf.set(c.step, (last = c.line ?? last))
  const key = (r: ReviewRow): [number, number, number] => {
    if (byLine) return r.kind === 'claim' ? [r.line, 1, 0] : [lineOf.get(r.step)!, 0, r.step]
    if (r.kind === 'command') return [r.step, 0, 0]
    const first = r.evidence[0]?.step
    return first !== undefined ? [first, 1, 0] : [Number.MAX_SAFE_INTEGER, r.line, 0]
  }
  return [...commands, ...claims].sort((a, b) => {
    const [a1, a2, a3] = key(a)
    const [b1, b2, b3] = key(b)
    return a1 - b1 || a2 - b2 || a3 - b3
  })
}
