// Grade one student's machine: run the scenario's gradable checks, read-only, against the state
// as found, and score them. A machine that cannot be reached, refuses the login, shows the
// wrong host key, drops the connection or leaves a command hanging gets 0 and the reason.
import { CheckFailure } from '../checks/check-failure.ts'
import type { ExecResult } from '../host.ts'
import type { LoadedScenario } from '../scenario/loader.ts'
import { StepContext } from '../scenario/step-context.ts'
import type { Topology } from '../topology.ts'
import { maxScore, planGrading, type PlannedCheck } from './plan.ts'
import { runReadOnlyCheck } from './read-only-checks.ts'
import { MACHINE_PROBE, ReadOnlyHost, ReadOnlyRefusal } from './read-only-host.ts'
import { singleHostLab } from './single-host-lab.ts'
import { connectTarget, parseTarget, redactTarget, type ConnectedMachine, type ConnectOptions } from './targets.ts'

export type CheckStatus = 'passed' | 'failed' | 'needs-setup'

/** One command a check ran, and what came back; `where` is `host01` or `host01/ns1`. */
export type Evidence = Omit<ExecResult, 'host' | 'netns'> & { where: string }

export interface GradedCheck {
  step: number
  kind: string
  title: string
  target: string
  points: number
  earned: number
  status: CheckStatus
  /** Passed: what was seen. */
  summary?: string
  /** Failed: what the check wanted, and what it found. */
  expected?: string
  got?: string
  /** Needs setup: why the check was left out of the score. */
  reason?: string
  hint?: string
  evidence: Evidence[]
}

export interface StudentGrade {
  name: string
  /** As given, any password removed. */
  target: string
  role: string
  scenario: { id: string; title: string; doc: string; section: string }
  /** How the machine was reached (and its host key verified). */
  machine?: string
  hostname?: string
  kernel?: string
  startedAt: string
  ms: number
  score: number
  max: number
  percent: number
  /** Why the student got 0 without a full grade: unreachable, refused, wrong host key, timeout. */
  error?: string
  checks: GradedCheck[]
}

export interface GradeOptions extends Omit<ConnectOptions, 'role'> {
  role: string
  commandTimeoutMs: number
  /** Checks of one machine run at once (each is its own channel on one SSH connection). */
  checkConcurrency?: number
}

export interface Student {
  name: string
  target: string
  identityFile?: string
  hostKeySha256?: string[]
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 20_000
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000

/** Connect, grade, disconnect; never throws: every failure becomes the student's error. */
export async function gradeStudent(student: Student, scenario: LoadedScenario, topology: Topology, opts: GradeOptions): Promise<StudentGrade> {
  const started = performance.now()
  const plan = planGrading(scenario, topology, opts.role)
  const base = gradeShell(student, scenario, opts.role, plan)
  let machine: ConnectedMachine | undefined
  try {
    const spec = parseTarget(student.target)
    machine = await connectTarget(spec, {
      ...opts,
      ...(student.identityFile ? { identityFile: student.identityFile } : {}),
      hostKeySha256: [...(opts.hostKeySha256 ?? []), ...(student.hostKeySha256 ?? [])],
    })
    const graded = await gradeMachine(machine, plan, topology, opts)
    return { ...base, ...graded, machine: machine.description, ms: Math.round(performance.now() - started) }
  } catch (e) {
    return { ...base, ...(machine ? { machine: machine.description } : {}), error: (e as Error).message, ms: Math.round(performance.now() - started) }
  } finally {
    await machine?.close().catch(() => undefined)
  }
}

function gradeShell(student: Student, s: LoadedScenario, role: string, plan: PlannedCheck[]): StudentGrade {
  return {
    name: student.name,
    target: redactTarget(student.target),
    role,
    scenario: { id: s.id, title: s.title, doc: s.source.doc, section: s.source.section },
    startedAt: new Date().toISOString(),
    ms: 0,
    score: 0,
    max: maxScore(plan),
    percent: 0,
    checks: [],
  }
}

/** A command killed at its timeout, or a connection that dropped: the machine cannot be graded. */
class MachineFailure extends Error {
  /** The check that was running, as far as it got. */
  check?: GradedCheck
}

type Graded = Pick<StudentGrade, 'score' | 'max' | 'percent' | 'checks' | 'hostname' | 'kernel' | 'error'>

export async function gradeMachine(machine: ConnectedMachine, plan: PlannedCheck[], topology: Topology, opts: GradeOptions): Promise<Graded> {
  const host = new ReadOnlyHost(machine.host)
  const probe = await host.exec(MACHINE_PROBE, { timeoutMs: opts.commandTimeoutMs })
  assertUsable(machine, probe, opts.commandTimeoutMs)
  if (probe.exitCode !== 0) {
    throw new MachineFailure(`could not run commands on the machine: the first one (hostname, uname -r, command -v) exited ${probe.exitCode}: ${(probe.stderr || probe.stdout).trim().slice(0, 300)}`)
  }
  const [hostname, kernel] = probe.stdout.split('\n').map((l) => l.trim())
  const tools = new Set(probe.stdout.split('\n').filter((l) => l.startsWith('tool:')).map((l) => l.slice(5).trim()))
  const lab = singleHostLab(topology, opts.role, host)

  const checks: GradedCheck[] = new Array(plan.length)
  let failure: Error | undefined
  await eachLimited(plan, opts.checkConcurrency ?? 4, async (p, i) => {
    if (failure) return
    try {
      checks[i] = await gradeCheck(p, lab, tools, machine, opts)
    } catch (e) {
      failure ??= e as Error
      if (e instanceof MachineFailure && e.check) checks[i] = e.check
    }
  })
  const done = checks.filter(Boolean)
  const max = maxScore(plan)
  if (failure) {
    return { score: 0, max, percent: 0, checks: done, error: failure.message, ...(hostname ? { hostname } : {}), ...(kernel ? { kernel } : {}) }
  }
  const score = done.reduce((sum, c) => sum + c.earned, 0)
  return { score, max, percent: max ? Math.round((score / max) * 1000) / 10 : 0, checks: done, ...(hostname ? { hostname } : {}), ...(kernel ? { kernel } : {}) }
}

function common(p: PlannedCheck) {
  return { step: p.step, kind: p.kind, title: p.title, target: p.target, points: p.points, ...(p.hint ? { hint: p.hint } : {}) }
}

async function gradeCheck(p: PlannedCheck, lab: ReturnType<typeof singleHostLab>, tools: Set<string>, machine: ConnectedMachine, opts: GradeOptions): Promise<GradedCheck> {
  if (p.needsSetup) return { ...common(p), earned: 0, status: 'needs-setup', reason: p.needsSetup, evidence: [] }
  const missing = p.tools.filter((t) => !tools.has(t))
  if (missing.length) {
    return { ...common(p), earned: 0, status: 'needs-setup', reason: `${opts.role} has no ${missing.join(', ')} command to read this state with`, evidence: [] }
  }
  const ctx = new StepContext(lab, p.check.timeoutMs ?? opts.commandTimeoutMs)
  const evidence = () => ctx.transcript.map(toEvidence)
  try {
    const summary = await runReadOnlyCheck(p.check.check, ctx)
    for (const r of ctx.transcript) assertUsable(machine, r, ctx.timeoutMs)
    return { ...common(p), earned: p.points, status: 'passed', summary, evidence: evidence() }
  } catch (e) {
    // A command this grader should never have sent is the grader's fault, not the student's.
    if (e instanceof ReadOnlyRefusal || e instanceof MachineFailure) throw e
    const missingNamespace = ctx.transcript.map((r) => /Cannot open network namespace "([^"]+)"/.exec(r.stderr)?.[1]).find(Boolean)
    const failed: GradedCheck = {
      ...common(p), earned: 0, status: 'failed', evidence: evidence(),
      ...(e instanceof CheckFailure ? { expected: e.expected, got: e.actual } : { got: (e as Error).message }),
      // Said plainly: the namespace is not there, rather than what a command could not read in it.
      ...(missingNamespace ? { got: `there is no network namespace "${missingNamespace}" on ${opts.role} (ip netns list does not show it)` } : {}),
    }
    try {
      for (const r of ctx.transcript) assertUsable(machine, r, ctx.timeoutMs)
    } catch (broken) {
      if (broken instanceof MachineFailure) broken.check = { ...failed, got: broken.message }
      throw broken
    }
    return failed
  }
}

function assertUsable(machine: ConnectedMachine, r: ExecResult, timeoutMs: number): void {
  const where = r.netns ? `${r.host}/${r.netns}` : r.host
  if (r.timedOut) throw new MachineFailure(`a command timed out: \`${r.command}\` on ${where} did not finish within ${timeoutMs} ms; the machine may be hung or overloaded`)
  const lost = machine.lostBecause()
  if (lost) throw new MachineFailure(lost)
}

function toEvidence({ host, netns, ...rest }: ExecResult): Evidence {
  return { where: netns ? `${host}/${netns}` : host, ...rest }
}

/** Run `work` on every item, at most `limit` at once; results land by index. */
export async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      await work(items[i]!, i)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
}
