// Run one step: a document command (bounded if it never ends, checked against what the document
// says it does, followed by its correction when the document is wrong), or a check.
import { formatResult, TOOLS, type ExecResult, type ExitGate } from '../host.ts'
import { checkCaptures, describeCheck, runCheck } from '../checks/index.ts'
import { CheckFailure, Mismatches } from '../checks/check-failure.ts'
import { assertPing } from '../checks/ping.ts'
import { parsePing } from '../parse/ping.ts'
import { boundCommand, type BoundedCommand } from './bounded.ts'
import { compareWithDocument } from './doc-output.ts'
import { isRunStep, type CaptureSpec, type CheckStep, type Expectation, type RunStep } from './schema.ts'
import { withCaptures } from '../capture/evidence.ts'
import { mayDeleteNamespace } from '../capture/capture-set.ts'
import { noReplyClaim } from '../engine/run-ahead.ts'
import { assertWire } from '../checks/wire.ts'
import type { StepContext } from './step-context.ts'

export interface ErratumRecord {
  verbatim: string
  outcome: string
  corrected: string
  why: string
}

export interface StepOutcome {
  summary: string
  erratum?: ErratumRecord
}

export function stepTitle(step: RunStep | CheckStep): string {
  if (isRunStep(step)) return `[${step.on}] ${step.run}`
  return step.name ?? describeCheck(step.check)
}

/** Run a step with the captures it (or its scenario) asks for, then check its wire claims. */
export async function runStep(step: RunStep | CheckStep, ctx: StepContext, scenarioCaptures: CaptureSpec[] = []): Promise<StepOutcome> {
  // A capture inside a namespace keeps it alive: end those of a host before it may delete one.
  if (ctx.captures && isRunStep(step)) {
    for (const [on, command] of [[step.on, step.run], [step.erratum?.on ?? step.on, step.erratum?.corrected ?? '']] as const) {
      if (mayDeleteNamespace(command)) await ctx.captures.endInNamespaces(on.split('/')[0]!)
    }
  }
  const specs = stepCaptures(step, scenarioCaptures)
  if (specs.length === 0) return runStepItself(step, ctx)
  // A check's own window is its work's first and last: marked and cut with the step's.
  const nested = isRunStep(step) ? [] : checkCaptures(step.check)
  const { result, evidence } = await withCaptures(ctx, specs, () => runStepItself(step, ctx), nested.length ? { nested } : {})
  const seen = (step.wire ?? []).map((w) => assertWire(w, evidence))
  return seen.length ? { ...result, summary: `${result.summary}; on the wire: ${seen.join(', ')}` } : result
}

/** The captures a step reads around its work: its scenario's, its own, its wire claims'. */
function stepCaptures(step: RunStep | CheckStep, scenarioCaptures: CaptureSpec[]): CaptureSpec[] {
  return [...scenarioCaptures, ...(step.capture ?? []), ...(step.wire ?? []).map((w) => ({ on: w.on, ...(w.filter ? { filter: w.filter } : {}) }))]
}

/** Every capture window the step will open, each as the specs it reads (runStep's own window
 *  around the step, and one per check that captures): for CaptureSet's plan. */
export function stepCaptureWindows(step: RunStep | CheckStep, scenarioCaptures: CaptureSpec[] = []): CaptureSpec[][] {
  const checks = isRunStep(step) ? step.erratum?.shows ?? [] : [step.check]
  return [stepCaptures(step, scenarioCaptures), ...checks.map(checkCaptures)].filter((w) => w.length > 0)
}

async function runStepItself(step: RunStep | CheckStep, ctx: StepContext): Promise<StepOutcome> {
  if (!isRunStep(step)) return { summary: await runCheck(step.check, ctx) }
  // A ping expected to get no reply lets the scenario go on once it is sent (engine.ts).
  const verbatim = await runCommand(step.on, step.run, step, step.expect, ctx, noReplyClaim(step) !== undefined)
  if (!step.erratum) return { summary: verbatim.summary }
  // The evidence of the defect is taken before the correction changes the state.
  const shown: string[] = []
  for (const c of step.erratum.shows ?? []) shown.push(await runCheck(c, ctx))
  const correctedOn = step.erratum.on ?? step.on
  const corrected = await runCommand(correctedOn, step.erratum.corrected, step, step.erratum.expect, ctx)
  const outcome = [verbatim.summary, ...shown].join('; ')
  return {
    summary: `${outcome}; corrected: ${corrected.summary}`,
    erratum: {
      verbatim: step.run,
      outcome,
      corrected: correctedOn === step.on ? step.erratum.corrected : `[${correctedOn}] ${step.erratum.corrected}`,
      why: step.erratum.why,
    },
  }
}

/** Whether a step is a plain document command, which the engine may run in one batch with the
 *  steps beside it (engine.ts): no correction, no captures or wire claims of its own or of its
 *  scenario, no "no reply" claim (that one lets the scenario go on instead). */
export function isPlainCommand(step: RunStep | CheckStep, scenarioCaptures: CaptureSpec[] = []): step is RunStep {
  return isRunStep(step) && !step.erratum && !step.capture?.length && !step.wire?.length && scenarioCaptures.length === 0 && !noReplyClaim(step)
}

/** The exit statuses of a plain command after which a batch goes on: those its expectation
 *  accepts (the host stops the batch at any other, whose step fails). */
export function batchGate(step: RunStep): ExitGate {
  const bounded = boundCommand(step.run)
  // A bounded tcpdump ends with `timeout`'s 124, and variants each say their own: judged here.
  if (step.expect?.variants || (bounded.command !== step.run && !bounded.isPing)) return 'any'
  const want = step.expect?.exitCode ?? (step.expect?.reachable === false ? undefined : 0)
  return want === undefined ? 'any' : want
}

/** A plain command the engine ran in a batch: judged exactly as runStep judges it when run alone. */
export async function runBatchedStep(step: RunStep, ctx: StepContext, ran: Promise<ExecResult | undefined>): Promise<StepOutcome> {
  const bounded = boundCommand(step.run)
  ctx.notes.push(...bounded.notes.map((n) => `${step.run}: ${n}`))
  const r = await ran
  if (!r) throw new Error(`\`${step.run}\` was not run on ${step.on}: its host's shell ended before it began`)
  await ctx.record(step.on, r)
  return { summary: judgeCommand(step.on, step.run, bounded, step, step.expect, ctx, r).summary }
}

async function runCommand(target: string, command: string, step: RunStep, expect: Expectation | undefined, ctx: StepContext, goOn = false) {
  const bounded = boundCommand(command)
  ctx.notes.push(...bounded.notes.map((n) => `${command}: ${n}`))
  const running = ctx.run(target, bounded.command, { input: step.input, timeoutMs: step.timeoutMs })
  if (goOn) ctx.goOn()
  return judgeCommand(target, command, bounded, step, expect, ctx, await running)
}

function judgeCommand(target: string, command: string, bounded: BoundedCommand, step: RunStep, expect: Expectation | undefined, ctx: StepContext, r: ExecResult) {
  if (bounded.isPing) ctx.replyWait.note(parsePing(r.stdout + r.stderr))
  // tcpdump stopped by its bound exits 124 from `timeout`: that is the expected end.
  const boundedStop = bounded.command !== command && !bounded.isPing && r.exitCode === 124 && !r.timedOut
  if (r.timedOut) {
    throw new CheckFailure(`\`${command}\` to finish within ${step.timeoutMs ?? ctx.timeoutMs} ms on ${target}`, `it was killed at the timeout${r.atTimeout ? `; then ${r.atTimeout.split('\n').at(-1)}` : ''}`, formatResult(r))
  }
  const behaviour = assertExpectation(r, expect, bounded.isPing, boundedStop, command, target)
  const summary = summarize(r, bounded.isPing)
  return { summary: behaviour ? `${summary}; behaviour: ${behaviour}` : summary, result: r }
}

function summarize(r: ExecResult, isPing: boolean): string {
  if (isPing) {
    const p = parsePing(r.stdout + r.stderr)
    if (p.sendError) return `ping: ${p.sendError}`
    const ttls = [...new Set(p.replies.map((x) => x.ttl))]
    return `${p.received}/${p.transmitted} replies${ttls.length ? ` ttl ${ttls.join(',')}` : ''}`
  }
  const firstLine = (r.stderr.trim() || r.stdout.trim()).split('\n')[0] ?? ''
  return `exit ${r.exitCode}${firstLine ? `: ${firstLine.slice(0, 120)}` : ''}`
}

/** Throws unless the command did what `e` says. With `variants`, returns the `when` of the
 *  behaviour it showed, so the report says which of the hosts' real behaviours this one is. */
export function assertExpectation(r: ExecResult, e: Expectation | undefined, isPing: boolean, boundedStop: boolean, command: string, target: string): string | undefined {
  const subject = `\`${command}\` on ${target}`
  if (!e?.variants) {
    mismatches(r, e, isPing, boundedStop, target).throwIfAny(subject, formatResult(r))
    return undefined
  }
  const { variants, ...shared } = e
  const tried = variants.map(({ when, ...variant }) => ({ when, found: mismatches(r, { ...shared, ...variant }, isPing, boundedStop, target) }))
  const shown = tried.find((t) => t.found.isEmpty)
  if (shown) return shown.when
  const each = tried.map((t) => ({ when: t.when, ...t.found.describe() }))
  throw new CheckFailure(
    `${subject} to behave as one of:\n${each.map((t) => `       - ${t.when}: ${t.expected}`).join('\n')}`,
    `none of them:\n${each.map((t) => `       - ${t.when}: ${t.actual}`).join('\n')}`,
    formatResult(r),
  )
}

function mismatches(r: ExecResult, e: Omit<Expectation, 'variants'> | undefined, isPing: boolean, boundedStop: boolean, target: string): Mismatches {
  const output = r.stdout + r.stderr
  const m = new Mismatches()
  const exitCode = boundedStop ? 0 : r.exitCode
  // A ping expected to fail exits non-zero by design; otherwise success is the default claim.
  const wantExit = e?.exitCode ?? (e?.reachable === false ? undefined : 0)
  if (wantExit === 'nonzero' && exitCode === 0) m.add('a non-zero exit', 'exit 0')
  if (typeof wantExit === 'number' && exitCode !== wantExit) m.add(`exit ${wantExit}`, `exit ${exitCode}${missingProgram(r, target)}`)
  for (const s of asList(e?.contains)) if (!output.includes(s)) m.add(`output containing "${s}"`, 'not in the output')
  for (const s of asList(e?.notContains)) if (output.includes(s)) m.add(`output without "${s}"`, 'it is there')
  if (e?.output !== undefined) {
    const cmp = compareWithDocument(e.output, output)
    if (!cmp.matches) m.add('the output the document shows', `different output\n${cmp.sideBySide}`)
  }
  if (e?.matches && !new RegExp(e.matches, 'm').test(output)) m.add(`output matching /${e.matches}/`, 'no match')
  if (e?.empty === true && output !== '') m.add('no output at all', `output: ${JSON.stringify(output.slice(0, 120))}`)
  if (e?.empty === false && output === '') m.add('some output', 'none')
  if (e?.reachable !== undefined || e?.ttl !== undefined) {
    if (!isPing) m.add('a ping command for reachable/ttl', 'not a ping')
    else {
      try {
        assertPing(parsePing(output), { reachable: e.reachable, ttl: e.ttl }, 'ping', '')
      } catch (err) {
        if (!(err instanceof CheckFailure)) throw err
        m.add(err.expected.replace(/^ping: /, ''), err.actual)
      }
    }
  }
  return m
}

/** A command the host does not have (the shell's exit 127): name it and what to do. */
function missingProgram(r: ExecResult, target: string): string {
  const name = r.exitCode === 127 ? /^(?:\S+: )?(?:\d+: )?([^\s:]+): (?:command )?not found$/m.exec(r.stderr)?.[1] : undefined
  if (!name) return ''
  const declare = (TOOLS as readonly string[]).includes(name)
    ? ` or declare \`requires: { tools: [${name}] }\` so the step is skipped where it is missing`
    : ''
  return ` (\`${name}\` is not installed on ${target}: install it in the host${declare})`
}

function asList(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v]
}
