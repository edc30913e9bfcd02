// Grade one student's machine: run the scenario's gradable checks and compare the machine with
// the lab's reference end state, read-only, against the state as found, and score them per
// section. A machine that cannot be reached, refuses the login, shows the wrong host key, drops
// the connection or leaves a command hanging gets 0 and the reason.
import { CheckFailure } from '../checks/check-failure.ts'
import { checkBody, checkKind } from '../checks/index.ts'
import { endStateItems, type EndStateItem } from '../endstate/compare.ts'
import { normalRule } from '../endstate/iptables-rule.ts'
import { machineState, type MachineState } from '../endstate/model.ts'
import { probeEndState, type RawEndState } from '../endstate/probe.ts'
import { loadEndState, sysctlKeysOf } from '../endstate/record.ts'
import { normalDestination } from '../endstate/route.ts'
import type { ExecResult } from '../host.ts'
import type { LoadedScenario } from '../scenario/loader.ts'
import { planSteps } from '../scenario/plan.ts'
import { StepContext } from '../scenario/step-context.ts'
import type { Topology } from '../topology.ts'
import { BRIDGE_NF_KEY, machineConditions, type ConditionName, type MachineCondition } from './conditions.ts'
import { planGrading, type PlannedCheck } from './plan.ts'
import { runReadOnlyCheck } from './read-only-checks.ts'
import { MACHINE_PROBE, ReadOnlyHost, ReadOnlyRefusal } from './read-only-host.ts'
import { singleHostLab } from './single-host-lab.ts'
import { connectTarget, parseTarget, redactTarget, type ConnectedMachine, type ConnectOptions } from './targets.ts'
import { buildingStep, idMatches, loadGradingFile, scoreSections, sectionTotal, type GradingFile, type SectionScore } from './weights.ts'

export type CheckStatus = 'passed' | 'failed' | 'needs-setup'

/** One command a check ran, and what came back; `where` is `host01` or `host01/ns1`. */
export type Evidence = Omit<ExecResult, 'host' | 'netns'> & { where: string }

export interface GradedCheck {
  /** The scenario's step: the check itself, or for an end-state item the step that builds it. */
  step: number
  kind: string
  title: string
  target: string
  /** The section of the lab it belongs to (a section heading of the scenario). */
  section: string
  /** End-state items: their id (`route host01/ns1 default`), for weights and exclusions. */
  item?: string
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
  /** Conditions of the machine this outcome depends on (see conditions.ts). */
  dependsOn?: ConditionName[]
  evidence: Evidence[]
}

export interface StudentGrade {
  name: string
  /** As given, any password removed. */
  target: string
  role: string
  scenario: { id: string; title: string; doc: string; section: string }
  /** false when the machine could not be reached or logged into: nothing was checked. */
  reached: boolean
  /** The class list's row cannot be graded as written (error says file:line and why). */
  invalidRow?: true
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
  /** Score per section of the lab, in the scenario's order. */
  sections: SectionScore[]
  /** The machine's own conditions that change what the lab does. */
  conditions: MachineCondition[]
  /** Whether the lab's reference end state was compared (scenarios/<file>.endstate.json). */
  endState: 'compared' | 'none recorded' | 'off'
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
  /** Set for a row of the class list that cannot be graded as written: the student scores 0. */
  invalid?: string
  /** Extra columns for the grade book (email, lms_id). */
  email?: string
  lmsId?: string
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 20_000
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000

/** Everything about a scenario a grade needs, prepared once for a class. */
export interface GradingPlan {
  scenario: LoadedScenario
  role: string
  checks: PlannedCheck[]
  /** End-state items, those a graded check already covers removed. */
  items: (EndStateItem & { step: number; section: string; points: number })[]
  /** iptables checks judged by what an end-state item does to the lab's flows. */
  judgedBy: Map<number, EndStateItem>
  sectionOf: Map<number, string>
  sysctlKeys: string[]
  endState: StudentGrade['endState']
  gradingFile: GradingFile
  hasBridge: boolean
}

export async function prepareGrading(scenario: LoadedScenario, topology: Topology, role: string): Promise<GradingPlan> {
  const checks = planGrading(scenario, topology, role)
  const gradingFile = await loadGradingFile(scenario)
  const reference = gradingFile.endstate === false ? undefined : await loadEndState(scenario)
  const refState: MachineState | undefined = reference?.hosts[role]
  const sectionOf = new Map(planSteps(scenario).map((p) => [p.number, p.section]))
  const pointsFor = (key: string, fallback: number) => {
    const hit = Object.entries(gradingFile.points ?? {}).find(([pattern]) => idMatches(pattern, key))
    return hit ? hit[1] : fallback
  }
  for (const c of checks) c.points = pointsFor(`step ${c.step}`, c.points)
  const covered = coveredItems(checks)
  const judgedBy = new Map<number, EndStateItem>()
  const items: GradingPlan['items'] = []
  for (const item of refState ? endStateItems(refState, role, topology) : []) {
    if ((gradingFile.exclude ?? []).some((pattern) => idMatches(pattern, item.id))) continue
    const by = covered.get(item.id)
    if (by !== undefined) {
      if (item.kind === 'rule') judgedBy.set(by, item)
      continue
    }
    const built = buildingStep(scenario, item.anchor)
    items.push({ ...item, step: built.step, section: built.section, points: pointsFor(item.id, 1) })
  }
  return {
    scenario, role, checks, items, judgedBy, sectionOf, gradingFile,
    sysctlKeys: [...new Set([...(refState ? Object.keys(refState.sysctls) : sysctlKeysOf(scenario)), BRIDGE_NF_KEY])].sort(),
    endState: gradingFile.endstate === false ? 'off' : refState ? 'compared' : 'none recorded',
    hasBridge: Boolean(refState?.ports.length || refState?.links.some((l) => l.type === 'bridge')),
  }
}

/** End-state items a graded check of the scenario already judges: the same route, link and
 *  addresses, bridge ports, sysctl or rule. Graded once, as the scenario's check. */
function coveredItems(checks: PlannedCheck[]): Map<string, number> {
  const covered = new Map<string, number>()
  for (const p of checks.filter((c) => !c.needsSetup)) {
    const kind = checkKind(p.check.check)
    const b = checkBody(p.check.check) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
    const cover = (id: string) => covered.set(id, p.step)
    if (kind === 'route' && b.present !== false) cover(`route ${b.on} ${normalDestination(b.dst)}`)
    if (kind === 'link' && b.exists !== false) {
      cover(`link ${b.on} ${b.name}`)
      for (const a of (b.addresses ?? []) as string[]) cover(`address ${b.on} ${b.name} ${a}`)
    }
    if (kind === 'bridge') for (const [port, state] of Object.entries(b.ports as Record<string, string>)) if (state !== 'any') cover(`port ${b.on} ${b.name} ${port}`)
    if (kind === 'sysctl') cover(`sysctl ${b.on} ${b.key}`)
    if (kind === 'iptables' && b.present !== false) {
      try {
        cover(`rule ${b.on} ${b.table} ${b.chain} ${normalRule(b.rule)}`)
      } catch {
        // A rule labproof cannot read is compared as the check says.
      }
    }
  }
  return covered
}

const plans = new Map<string, Promise<GradingPlan>>()

/** Connect, grade, disconnect; never throws: every failure becomes the student's error. */
export async function gradeStudent(student: Student, scenario: LoadedScenario, topology: Topology, opts: GradeOptions, prepared?: GradingPlan): Promise<StudentGrade> {
  const started = performance.now()
  const key = `${scenario.file} ${opts.role}`
  if (!prepared && !plans.has(key)) plans.set(key, prepareGrading(scenario, topology, opts.role))
  const plan = prepared ?? await plans.get(key)!
  const base = gradeShell(student, plan)
  let machine: ConnectedMachine | undefined
  try {
    if (student.invalid) throw new Error(student.invalid)
    const spec = parseTarget(student.target)
    // The most specific pin wins: the student's row, else --host-key-sha256, else known_hosts.
    const rowPins = student.hostKeySha256 ?? []
    machine = await connectTarget(spec, {
      ...opts,
      ...(student.identityFile ? { identityFile: student.identityFile } : {}),
      ...(rowPins.length ? { hostKeySha256: rowPins, hostKeySource: 'the host_key_sha256 column' } : {}),
    })
    const graded = await gradeMachine(machine, plan, topology, opts)
    return { ...base, ...graded, reached: true, machine: machine.description, ms: Math.round(performance.now() - started) }
  } catch (e) {
    return { ...base, ...(machine ? { machine: machine.description, reached: true } : {}), ...(student.invalid ? { invalidRow: true as const } : {}), error: (e as Error).message, ms: Math.round(performance.now() - started) }
  } finally {
    await machine?.close().catch(() => undefined)
  }
}

/** Every section of the plan with its full points and none earned: what a machine that cannot
 *  be graded scores, whichever command it stopped at. */
function zeroSections(plan: GradingPlan): { sections: StudentGrade['sections']; max: number } {
  const s = plan.scenario
  const entries = [
    ...plan.checks.map((c) => ({ section: plan.sectionOf.get(c.step) ?? s.source.section, points: c.points, earned: 0, status: c.needsSetup ? 'needs-setup' as const : 'failed' as const })),
    ...plan.items.map((i) => ({ section: i.section, points: i.points, earned: 0, status: 'failed' as const })),
  ]
  const { sections } = scoreSections(entries, s, plan.gradingFile)
  return { sections: sections.map((x) => ({ ...x, score: 0 })), max: sectionTotal(sections, 'max') }
}

function gradeShell(student: Student, plan: GradingPlan): StudentGrade {
  const s = plan.scenario
  const { sections, max } = zeroSections(plan)
  return {
    name: student.name,
    target: redactTarget(student.target),
    role: plan.role,
    scenario: { id: s.id, title: s.title, doc: s.source.doc, section: s.source.section },
    reached: false,
    startedAt: new Date().toISOString(),
    ms: 0,
    score: 0,
    max,
    percent: 0,
    sections,
    conditions: [],
    endState: plan.endState,
    checks: [],
  }
}

/** A command killed at its timeout, or a connection that dropped: the machine cannot be graded. */
class MachineFailure extends Error {
  /** The check that was running, as far as it got. */
  check?: GradedCheck
}

type Graded = Pick<StudentGrade, 'score' | 'max' | 'percent' | 'checks' | 'hostname' | 'kernel' | 'error' | 'sections' | 'conditions'>

export async function gradeMachine(machine: ConnectedMachine, plan: GradingPlan, topology: Topology, opts: GradeOptions): Promise<Graded> {
  const host = new ReadOnlyHost(machine.host)
  const probe = await host.exec(MACHINE_PROBE, { timeoutMs: opts.commandTimeoutMs })
  assertUsable(machine, probe, opts.commandTimeoutMs)
  if (probe.exitCode !== 0) {
    throw new MachineFailure(`could not run commands on the machine: the first one (hostname, uname -r, command -v) exited ${probe.exitCode}: ${(probe.stderr || probe.stdout).trim().slice(0, 300)}`)
  }
  const [hostname, kernel] = probe.stdout.split('\n').map((l) => l.trim())
  const tools = new Set(probe.stdout.split('\n').filter((l) => l.startsWith('tool:')).map((l) => l.slice(5).trim()))
  const lab = singleHostLab(topology, opts.role, host)
  const raw = await probeEndState(host, plan.sysctlKeys, opts.commandTimeoutMs, (r) => assertUsable(machine, r, opts.commandTimeoutMs))
  const student = machineState(raw)
  const conditions = machineConditions(kernel, raw)
  const dependsOn = (kind: string): ConditionName[] | undefined => {
    const names: ConditionName[] = []
    if (kind === 'ping' && plan.hasBridge) names.push('br_netfilter')
    if (kind === 'iptables' || kind === 'rule' || kind === 'forwarding') names.push('iptables')
    return names.length ? names : undefined
  }

  const checks: GradedCheck[] = new Array(plan.checks.length)
  let failure: Error | undefined
  await eachLimited(plan.checks, opts.checkConcurrency ?? 4, async (p, i) => {
    if (failure) return
    try {
      const judged = plan.judgedBy.get(p.step)
      checks[i] = judged && !p.needsSetup
        ? judgedByItem(p, judged, student, raw, opts.role)
        : await gradeCheck(p, lab, tools, machine, opts)
      checks[i]!.section = plan.sectionOf.get(p.step) ?? plan.scenario.source.section
      const deps = dependsOn(p.kind)
      if (deps && checks[i]!.status !== 'needs-setup') checks[i]!.dependsOn = deps
    } catch (e) {
      failure ??= e as Error
      if (e instanceof MachineFailure && e.check) checks[i] = e.check
    }
  })
  const items = plan.items.map((item) => gradeItem(item, student, raw, opts.role, dependsOn(item.kind)))
  explainByConditions(checks.filter(Boolean), items, conditions)
  const all = [...checks.filter(Boolean), ...items]
  const { entries, sections } = scoreSections(all, plan.scenario, plan.gradingFile)
  const extra = { ...(hostname ? { hostname } : {}), ...(kernel ? { kernel } : {}), conditions }
  // Stopped at a command: the checks after it never ran, and the machine scores 0 of the whole.
  if (failure) return { score: 0, percent: 0, checks: entries, error: failure.message, ...zeroSections(plan), ...extra }
  const max = sectionTotal(sections, 'max')
  const score = sectionTotal(sections, 'score')
  return { score, max, percent: max ? Math.round((score / max) * 1000) / 10 : 0, checks: entries, sections, ...extra }
}

/** A ping across a bridge fails on a machine whose br_netfilter sends bridged traffic through
 *  the IP forwarding path when forwarding or the FORWARD chain stops it: the hint says so. */
function explainByConditions(checks: GradedCheck[], items: GradedCheck[], conditions: MachineCondition[]): void {
  const bridgeNf = conditions.find((c) => c.name === 'br_netfilter')
  if (!bridgeNf || !bridgeNf.value.endsWith('= 1')) return
  const blockers = items.filter((i) => i.status === 'failed' && (i.item?.endsWith(' net.ipv4.ip_forward') || i.kind === 'forwarding')).map((i) => i.got)
  if (!blockers.length) return
  for (const c of checks) {
    if (c.status !== 'failed' || !c.dependsOn?.includes('br_netfilter')) continue
    c.hint = `on this machine br_netfilter is loaded (bridge-nf-call-iptables = 1), so traffic across a bridge also takes the IP forwarding path, and ${blockers.join('; ')}${c.hint ? `. Otherwise: ${c.hint}` : ''}`
  }
}

/** The probe's commands that show what an item is about. */
function itemEvidence(item: Pick<EndStateItem, 'id' | 'kind'>, raw: RawEndState): ExecResult[] {
  const [, where = '', table] = item.id.split(' ')
  const ns = where.split('/')[1] ?? ''
  const probe = raw.perNamespace[ns]
  switch (item.kind) {
    case 'namespace': return [raw.namespaces]
    case 'link': case 'address': return probe ? [probe.addr] : [raw.namespaces]
    case 'port': return probe ? [probe.addr] : []
    case 'route': return probe ? [probe.routes] : [raw.namespaces]
    case 'sysctl': return [raw.sysctls[item.id.split(' ')[2]!]!].filter(Boolean)
    case 'rule': return [raw.iptables[table!]!].filter(Boolean)
    case 'forwarding': return [raw.iptables.filter!, raw.iptables.nat!].filter(Boolean)
  }
}

function gradeItem(item: GradingPlan['items'][number], student: MachineState, raw: RawEndState, role: string, dependsOn?: ConditionName[]): GradedCheck {
  const o = item.evaluate(student)
  const where = item.id.split(' ')[1] ?? role
  return {
    step: item.step, kind: item.kind, title: item.title, target: where, section: item.section, item: item.id,
    points: item.points, earned: o.ok ? item.points : 0, status: o.ok ? 'passed' : 'failed',
    ...(o.ok ? { summary: o.summary } : { expected: o.expected, got: o.got, ...(o.hint ? { hint: o.hint } : {}) }),
    ...(dependsOn ? { dependsOn } : {}),
    evidence: itemEvidence(item, raw).map(toEvidence),
  }
}

/** An iptables check of the scenario, judged by what the student's rules do to the lab's
 *  flows (the end-state item for the same rule); the author's hint comes first. */
function judgedByItem(p: PlannedCheck, item: EndStateItem, student: MachineState, raw: RawEndState, role: string): GradedCheck {
  const g = gradeItem({ ...item, step: p.step, section: '', points: p.points }, student, raw, role)
  return { ...g, kind: p.kind, title: p.title, target: p.target, item: undefined, ...(p.hint && g.status === 'failed' ? { hint: `${p.hint} (${g.hint})` } : {}) }
}

function common(p: PlannedCheck) {
  return { step: p.step, kind: p.kind, title: p.title, target: p.target, section: '', points: p.points, ...(p.hint ? { hint: p.hint } : {}) }
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
