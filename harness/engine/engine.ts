// Runs a scenario's plan on a lab, step by step, and tells its subscribers what happens: lab up,
// host probed, step started, step result (with transcript and evidence), step skipped (with the
// reason), lab down. It decides what runs: the capability gate (a step needing what a host lacks
// is skipped with that reason) and "blocked by step N" after a failure. It reports nothing
// itself; the vitest binding (scenario/runner.ts), Allure and the run records subscribe.
//
// Verdicts that don't hold the line: a "no reply" claim sends its pings and lets the scenario go
// on (StepContext.goOn); its verdict comes when its wait has passed, before the lab goes down.
// Steps run one at a time in plan order, and a later step starts before a pending verdict only
// when run-ahead.ts allows it; every other step waits for every pending verdict first. A step is
// settled (its events emitted, its result returned) in plan order, by whoever drives the engine,
// each inside its own test: a step that ran ahead of an earlier step that then failed is reported
// "blocked by step N", exactly as if it had waited, so the report never depends on timing.
import { backendByName } from '../backends/index.ts'
import { ReplyWait } from '../checks/reply-wait.ts'
import type { Capabilities, ExecBatch, ExecResult, ExitGate } from '../host.ts'
import type { Lab } from '../lab.ts'
import { MachineLock } from '../machine-lock.ts'
import type { LoadedScenario } from '../scenario/loader.ts'
import { planSteps, topologyOf, type PlannedStep } from '../scenario/plan.ts'
import { missingRequirements, stepHosts } from '../scenario/requirements.ts'
import { batchGate, isPlainCommand, runBatchedStep, runStep, stepCaptureWindows, stepTitle, type StepOutcome } from '../scenario/run-step.ts'
import { boundCommand } from '../scenario/bounded.ts'
import { CaptureSet, mayDeleteNamespace, mergeSpecs } from '../capture/capture-set.ts'
import { parseCapturePoint, type CaptureSpec } from '../capture/tcpdump.ts'
import { isRunStep } from '../scenario/schema.ts'
import { checkReads } from '../checks/index.ts'
import { mayRunAhead, noReplyClaim, type NoReplyClaim } from './run-ahead.ts'
import { StepContext } from '../scenario/step-context.ts'
import type { EngineEvent, EngineEventType, EventOf, RunOf, StepRecord, StepResult, Subscriber } from './events.ts'
import { cellName, type RunOptions } from './run-options.ts'

export const DEFAULT_STEP_TIMEOUT_MS = 30_000
/** How many of the next steps with captures have them started ahead (prestartCaptures). */
const PRESTART_READERS = 2

/** One command of a batch, for the step it belongs to. */
interface BatchedCommand {
  on: string
  command: string
  input?: string
  timeoutMs: number
  gate: ExitGate
}

/** A step's part of a batch: its commands and their results. */
interface Batched {
  commands: BatchedCommand[]
  ran: Promise<ExecResult | undefined>[]
  batch: ExecBatch
}

type Payload<T extends EngineEventType> = Omit<EventOf<T>, keyof RunOf | 'type'>

/** A step begun by the engine: its verdict, and its events, emitted as they happen while its
 *  test waits for it (settle()), and until then kept. */
class StepRun {
  private readonly kept: (() => Promise<void>)[] = []
  private emitting: Promise<void> = Promise.resolve()
  private live = false
  /** Whether it ran while an earlier verdict was pending (run-ahead.ts let it). */
  ranAhead = false
  /** Hosts it probed first. */
  readonly probed: Capabilities[] = []
  /** Its result event, emitted last (or replaced by a skip when it ran beside a failure). */
  resultEvent: (() => Promise<void>) | undefined
  result!: Promise<StepResult>

  event(emit: () => Promise<void>): void {
    if (this.live) this.emitting = this.emitting.then(emit)
    else this.kept.push(emit)
  }

  /** From now on events go out at once; those kept go out first. */
  async goLive(): Promise<void> {
    this.live = true
    for (const emit of this.kept.splice(0)) this.emitting = this.emitting.then(emit)
    await this.emitting
  }

  async flush(): Promise<void> {
    await this.emitting
  }
}

export class ScenarioEngine {
  lab: Lab | undefined
  /** The first step that failed (the lowest number, also when verdicts arrive out of order). */
  private blockedBy: number | undefined
  private readonly caps = new Map<string, Capabilities>()
  /** Held from the first step that uses machine-wide state until the lab is gone. */
  private machineLock: MachineLock | undefined
  /** Reply times of this engine's lab (see checks/reply-wait.ts). */
  private replyWait = new ReplyWait()
  /** The lab's captures, one per capture point, kept until the lab goes down. */
  private captures: CaptureSet | undefined
  private readonly subscribers: Subscriber[] = []
  private readonly run: RunOf
  private readonly runs = new Map<number, StepRun>()
  /** Steps start one after another: the foreground of the last one begun (see begin). */
  private lastForeground: Promise<void> = Promise.resolve()
  /** Verdicts still to come, of steps that let the scenario go on. */
  private readonly pending = new Map<number, { claim: NoReplyClaim; result: Promise<void> }>()
  /** Steps whose document command runs in a batch begun by an earlier step (beginBatch). */
  private readonly batched = new Map<number, Batched>()

  constructor(readonly scenario: LoadedScenario, readonly opts: RunOptions) {
    this.run = { scenario, options: opts, cell: cellName(opts) }
  }

  /** Adds a subscriber; its handlers are awaited, after those of earlier subscribers. */
  subscribe(subscriber: Subscriber): this {
    this.subscribers.push(subscriber)
    return this
  }

  get stepTimeoutMs(): number {
    return this.scenario.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS
  }

  /** How long a step may take in all (its commands, an erratum's correction and evidence,
   *  captures): what a test runner's own timeout must allow, so the step's timeout, which
   *  kills the command and names it, always comes first. */
  stepBudgetMs(step: PlannedStep['step']): number {
    return (step.timeoutMs ?? this.stepTimeoutMs) * 3 + 10_000
  }

  async start(): Promise<Lab> {
    const t0 = performance.now()
    const backend = await backendByName(this.opts.backend)
    this.lab = await backend.provision(topologyOf(this.scenario), { ...this.opts.options, distro: this.opts.distro, kernel: this.opts.kernel })
    // Every host's capabilities are probed from now on, side by side, so a step finds its
    // host's answer ready or on its way (a host is still reported probed by its first step).
    for (const h of this.lab.topology.hosts) void this.lab.host(h.name).capabilities().catch(() => undefined)
    this.replyWait = new ReplyWait(this.lab.noReplyWaitS)
    this.captures = new CaptureSet(this.lab)
    await this.emit('lab-up', { lab: this.lab, ms: performance.now() - t0 })
    return this.lab
  }

  /** Every verdict still to come is decided, then the captures end and the lab goes down. */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.runs.values()].map((run) => run.result))
    const t0 = performance.now()
    const hadLab = this.lab !== undefined
    try {
      // The captures' tcpdumps run inside the hosts and go down with them: nothing to end first.
      await this.lab?.destroy()
    } finally {
      this.lab = undefined
      this.captures = undefined
      await this.machineLock?.release()
      this.machineLock = undefined
    }
    if (hadLab) await this.emit('lab-down', { ms: performance.now() - t0 })
  }

  /** Run one step and report it: begin() and settle(). */
  async runStep(planned: PlannedStep): Promise<StepResult> {
    this.begin(planned)
    return this.settle(planned)
  }

  /** Whether the step ran while an earlier step's verdict was still to come. */
  ranAhead(planned: PlannedStep): boolean {
    return this.runs.get(planned.number)?.ranAhead ?? false
  }

  /** Start the step once the step begun before it has gone as far as it lets the next one
   *  start: its verdict, or, for a "no reply" claim, its pings sent. settle() begins a step; a
   *  claim that lets the scenario go on begins the next one itself. */
  begin(planned: PlannedStep): void {
    if (this.runs.has(planned.number)) return
    const run = new StepRun()
    let foregroundDone!: () => void
    const foreground = new Promise<void>((resolve) => (foregroundDone = resolve))
    const previous = this.lastForeground
    this.lastForeground = foreground
    const beginNext = () => {
      const plan = this.plan()
      const next = plan[plan.findIndex((p) => p.number === planned.number) + 1]
      if (next) this.begin(next)
    }
    run.result = previous.then(() => this.runStepOn(planned, run, () => {
      foregroundDone()
      beginNext()
    }))
    // While a verdict is still to come, the engine goes on by itself, step after step, as far as
    // run-ahead.ts lets it (the first step that must wait, waits).
    const ended = () => {
      foregroundDone()
      if (this.pending.size > 0) beginNext()
    }
    run.result.then(ended, ended)
    this.runs.set(planned.number, run)
  }

  /** The step's verdict, once decided, with its events emitted inside the caller (its test):
   *  started, hosts probed, then its result or skip. Call in plan order. A step that ran ahead of
   *  an earlier step that failed is reported as blocked by it, as it would have been had it
   *  waited. */
  async settle(planned: PlannedStep): Promise<StepResult> {
    this.begin(planned)
    const run = this.runs.get(planned.number)!
    const live = run.goLive()
    const result = await run.result
    await live
    await run.flush()
    if (run.ranAhead && this.blockedBy !== undefined && this.blockedBy < planned.number) {
      const reason = `blocked by step ${this.blockedBy}`
      await this.emit('step-skipped', { step: planned, title: stepTitle(planned.step), reason })
      return { status: 'skipped', reason }
    }
    await run.resultEvent?.()
    return result
  }

  private planned: PlannedStep[] | undefined
  private plan(): PlannedStep[] {
    return (this.planned ??= planSteps(this.scenario))
  }

  private async runStepOn(planned: PlannedStep, run: StepRun, goOn: () => void): Promise<StepResult> {
    const { number, step, requires } = planned
    const title = stepTitle(step)
    run.event(() => this.emit('step-started', { step: planned, title }))
    run.ranAhead = this.pending.size > 0 && mayRunAhead(step, [...this.pending.values()].map((p) => p.claim), this.scenario.capture?.length ?? 0)
    if (this.pending.size > 0 && !run.ranAhead) await Promise.allSettled([...this.pending.values()].map((p) => p.result))
    const skip = (reason: string): StepResult => {
      run.resultEvent = () => this.emit('step-skipped', { step: planned, title, reason })
      return { status: 'skipped', reason }
    }
    if (this.blockedBy !== undefined) return skip(`blocked by step ${this.blockedBy}`)
    const lab = this.lab
    if (!lab) return skip('the lab was not provisioned')
    const hosts = stepHosts(step).length ? stepHosts(step) : lab.topology.hosts.map((h) => h.name)
    for (const h of hosts) {
      if (this.caps.has(h)) continue
      const capabilities = await lab.host(h).capabilities()
      this.caps.set(h, capabilities)
      run.probed.push(capabilities)
      run.event(() => this.emit('host-probed', { capabilities }))
    }
    const missing = missingRequirements(requires, hosts.map((h) => this.caps.get(h)!))
    if (missing) return skip(missing)
    if (!this.machineLock && requires.kernel.some((f) => lab.machineWide?.includes(f))) {
      this.machineLock = await MachineLock.acquire(`${this.opts.backend}-machine-wide-state`)
    }
    const ctx = new StepContext(lab, step.timeoutMs ?? this.stepTimeoutMs, { explainMissingNamespace: true, replyWait: this.replyWait, ...(this.captures ? { captures: this.captures } : {}) })
    const record: StepRecord = { transcript: ctx.transcript, notes: ctx.notes, attachments: ctx.attachments }
    const t0 = performance.now()
    const batched = this.batched.get(number) ?? (run.ranAhead ? undefined : await this.beginBatch(planned, lab))
    let outcome: Promise<StepOutcome>
    if (batched) {
      // Captures start ahead beside the batch where none of its commands names their point, the
      // others as soon as the last command naming it is done (beginBatch).
      this.prestartCaptures(planned)
      if (isRunStep(step)) outcome = runBatchedStep(step, ctx, batched.ran[0]!)
      else {
        batched.commands.forEach((c, i) => ctx.ranBefore(c.on, c.command, batched.ran[i]!))
        outcome = runStep(step, ctx, this.scenario.capture)
      }
    } else {
      this.prestartCaptures(planned)
      outcome = runStep(step, ctx, this.scenario.capture)
    }
    // Only a "no reply" claim lets the scenario go on before its verdict.
    const claim = noReplyClaim(step)
    let decided = false
    if (claim) {
      void ctx.wentOn.then(() => {
        if (decided || (this.blockedBy !== undefined && this.blockedBy < number)) return
        this.pending.set(number, { claim, result: outcome.then(() => undefined, () => undefined) })
        goOn()
      })
    }
    let result: StepResult & { status: 'passed' | 'failed' }
    try {
      result = { status: 'passed', record, outcome: await outcome }
    } catch (error) {
      this.blockedBy = Math.min(this.blockedBy ?? number, number)
      result = { status: 'failed', record, error }
      // The rest of its batch is blocked by it: none of it begins from now on.
      await batched?.batch.stop()
    } finally {
      decided = true
      this.pending.delete(number)
    }
    const ms = performance.now() - t0
    run.resultEvent = () => this.emit('step-result', { step: planned, title, result, ms })
    return result
  }

  /** A run of steps on one host whose commands are all known before they run (batchCommands:
   *  plain document commands, and checks that only read configuration, by the commands their
   *  kind reads first), starting with `leader`, runs as one batch (Host.execBatch): one round
   *  trip to the host instead of one per command, each command still with its own output,
   *  status and timeout, in plan order, so each sees the state it would see alone. The host ends
   *  the batch at the first document command whose status its step does not accept (batchGate),
   *  and the engine stops it at a step that fails otherwise; each step is judged and reported on
   *  its own, in order, and a step after a failed one is reported blocked by it as always (its
   *  command may have run, as a step that ran ahead may have). A batch ends before any other
   *  step, a step on another host, or one needing the machine-wide lock not yet held; a step its
   *  host lacks something for is left out (it is skipped) and the batch goes on past it. */
  private async beginBatch(leader: PlannedStep, lab: Lab): Promise<Batched | undefined> {
    const hostName = stepHosts(leader.step)[0]
    if (this.pending.size > 0 || !hostName || !this.batchCommands(leader, hostName)) return undefined
    const host = lab.host(hostName)
    const caps = this.caps.get(hostName)
    if (!host.execBatch || !caps) return undefined
    const plan = this.plan()
    const members: { planned: PlannedStep; commands: BatchedCommand[] }[] = []
    for (const planned of plan.slice(plan.findIndex((p) => p.number === leader.number))) {
      const { requires } = planned
      const commands = this.batchCommands(planned, hostName)
      if (!commands || (planned.number !== leader.number && this.runs.has(planned.number))) break
      if (missingRequirements(requires, [caps])) continue
      if (!this.machineLock && requires.kernel.some((f) => lab.machineWide?.includes(f))) break
      members.push({ planned, commands })
    }
    if (members.length < 2) return undefined
    // A capture inside a namespace keeps it alive: end those of the host before any may go.
    if (this.captures && members.some((m) => m.commands.some((c) => mayDeleteNamespace(c.command)))) await this.captures.endInNamespaces(hostName)
    const commands = members.flatMap((m) => m.commands)
    const batch = host.execBatch(commands.map((c) => {
      const netns = c.on.split('/')[1]
      return { cmd: c.command, ...(netns ? { netns } : {}), ...(c.input !== undefined ? { input: c.input } : {}), timeoutMs: c.timeoutMs, goOn: c.gate }
    }))
    // A step reported blocked never awaits its command: its failure is no one's to handle.
    for (const r of batch.results) r.catch(() => undefined)
    let at = 0
    members.forEach((m) => {
      const ran = batch.results.slice(at, at + m.commands.length)
      this.batched.set(m.planned.number, { commands: m.commands, ran, batch })
      // Once its commands are done, captures they held back may start ahead.
      void Promise.allSettled(ran).then(() => this.prestartCaptures(m.planned, true))
      at += m.commands.length
    })
    return this.batched.get(leader.number)
  }

  /** What a step runs on `hostName` if it may be in a batch (beginBatch), else undefined. */
  private batchCommands({ step }: PlannedStep, hostName: string): BatchedCommand[] | undefined {
    const timeoutMs = step.timeoutMs ?? this.stepTimeoutMs
    if (isPlainCommand(step, this.scenario.capture ?? [])) {
      if (step.on.split('/')[0] !== hostName) return undefined
      // The document command as written: runBatchedStep judges it, not a check's run().
      return [{ on: step.on, command: boundCommand(step.run).command, ...(step.input !== undefined ? { input: step.input } : {}), timeoutMs, gate: batchGate(step) }]
    }
    if (isRunStep(step) || (this.scenario.capture?.length ?? 0) > 0 || step.capture?.length || step.wire?.length) return undefined
    const reads = checkReads(step.check)
    if (reads.length === 0 || stepHosts(step).some((h) => h !== hostName)) return undefined
    return reads.map((r) => ({ ...r, timeoutMs, gate: 'any' as const }))
  }

  /** While this step runs, the captures of the next steps that read any are started
   *  (CaptureSet.prestart: `any` points and interfaces where that changes nothing), unless this
   *  step may delete a namespace (a capture there would keep it alive) or reads those captures
   *  itself (its window starts them). A point waits for every command still to run before that
   *  step that makes its namespace (`ip netns add`), names its interface (which may make it,
   *  move it or delete it: `ip link add`, `ip link set … netns`) or, in a namespace, may delete
   *  a namespace; a start tried early is not tried again for the same step. Steps its hosts
   *  lack something for (skipped) are passed over. `done`: this step's commands have run (a
   *  batch's, beginBatch). */
  private prestartCaptures(planned: PlannedStep, done = false): void {
    const captures = this.captures
    if (!captures) return
    const steps = this.captureSteps()
    const at = steps.findIndex((s) => s.planned.number === planned.number)
    const current = steps[at]!
    if (current.deletes) return
    let readers = 0
    for (let i = at + 1; i < steps.length && readers < PRESTART_READERS; i++) {
      const reader = steps[i]!
      if (reader.specs.length === 0 || this.lacksFor(reader.planned)) continue
      readers++
      const wanted = reader.specs.filter((spec) => !current.own.has(`${spec.on} ${spec.filter}`) && captures.wouldStartAhead(spec, reader.planned.number))
      if (wanted.length === 0) continue
      const before = steps.slice(done ? at + 1 : at, i)
      const deletes = before.some((s) => s.deletes)
      const ready = wanted.filter((spec) => {
        const point = parseCapturePoint(spec.on)
        if (deletes && point.netns) return false
        return !before.some((s) => s.commands.some((c) => (point.netns && makesNamespace(c, point.netns)) || (point.iface !== 'any' && namesWord(c, point.iface))))
      })
      if (ready.length) captures.prestart(ready, reader.planned.number)
    }
  }

  private stepsForCaptures: { planned: PlannedStep; specs: CaptureSpec[]; own: Set<string>; commands: string[]; deletes: boolean }[] | undefined
  /** Per step of the plan, once: the captures its windows read, and its document commands. */
  private captureSteps(): NonNullable<ScenarioEngine['stepsForCaptures']> {
    return (this.stepsForCaptures ??= this.plan().map((planned) => {
      const { step } = planned
      const specs = stepCaptureWindows(step, this.scenario.capture).flatMap(mergeSpecs)
      const commands = isRunStep(step) ? [step.run, ...(step.erratum ? [step.erratum.corrected] : [])] : []
      return { planned, specs, own: new Set(specs.map((s) => `${s.on} ${s.filter}`)), commands, deletes: commands.some(mayDeleteNamespace) }
    }))
  }

  /** Whether a step will be skipped for what its hosts lack, as far as they are probed yet. */
  private lacksFor({ step, requires }: PlannedStep): boolean {
    const caps = stepHosts(step).map((h) => this.caps.get(h))
    return caps.every((c) => c !== undefined) && missingRequirements(requires, caps as Capabilities[]) !== undefined
  }


  /** The whole plan: lab up, every step in order, lab down (also when a step or a subscriber
   *  throws). For drivers that are not a test runner (the bench). */
  async runAll(plan: PlannedStep[] = planSteps(this.scenario)): Promise<StepResult[]> {
    await this.start()
    try {
      const results: StepResult[] = []
      for (const planned of plan) results.push(await this.settle(planned))
      return results
    } finally {
      await this.stop()
    }
  }

  private async emit<T extends EngineEventType>(type: T, payload: Payload<T>): Promise<void> {
    const event = { ...this.run, type, ...payload } as unknown as EventOf<T>
    for (const s of this.subscribers) await (s[type] as ((e: EventOf<T>) => void | Promise<void>) | undefined)?.(event)
  }
}

/** Whether a command may make the network namespace `name` (`ip netns add NAME`, `attach`). */
function makesNamespace(command: string, name: string): boolean {
  return /\bnetns\s+a[a-z]*\s/.test(command) && namesWord(command, name)
}

const wordPatterns = new Map<string, RegExp>()
/** Whether a command names `name` as a word of its own (an interface or namespace name). */
function namesWord(command: string, name: string): boolean {
  let pattern = wordPatterns.get(name)
  if (!pattern) wordPatterns.set(name, (pattern = new RegExp(`(^|[^\\w.-])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\w.-])`)))
  return command.includes(name) && pattern.test(command)
}
