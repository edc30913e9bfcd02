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
import type { Capabilities } from '../host.ts'
import type { Lab } from '../lab.ts'
import { MachineLock } from '../machine-lock.ts'
import type { LoadedScenario } from '../scenario/loader.ts'
import { planSteps, topologyOf, type PlannedStep } from '../scenario/plan.ts'
import { missingRequirements, stepHosts } from '../scenario/requirements.ts'
import { runStep, stepTitle } from '../scenario/run-step.ts'
import { CaptureSet } from '../capture/capture-set.ts'
import { mayRunAhead, noReplyClaim, type NoReplyClaim } from './run-ahead.ts'
import { StepContext } from '../scenario/step-context.ts'
import type { EngineEvent, EngineEventType, EventOf, RunOf, StepRecord, StepResult, Subscriber } from './events.ts'
import { cellName, type RunOptions } from './run-options.ts'

export const DEFAULT_STEP_TIMEOUT_MS = 30_000

type Payload<T extends EngineEventType> = Omit<EventOf<T>, keyof RunOf | 'type'>

/** A step begun by the engine: its events, emitted when it is settled, and its verdict. */
interface StepRun {
  events: (() => Promise<void>)[]
  result: Promise<StepResult>
  /** Whether it ran (or started) while an earlier verdict was pending. */
  ranAhead: boolean
  /** Hosts it probed first. */
  probed: Capabilities[]
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
  private readonly runs = new Map<number, Promise<StepRun>>()
  /** Steps start one after another: the last one begun, up to where it lets the next start. */
  private lastBegun: Promise<unknown> = Promise.resolve()
  /** Verdicts still to come, of steps that let the scenario go on. */
  private readonly pending = new Map<number, { claim: NoReplyClaim; result: Promise<StepResult> }>()

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
    this.replyWait = new ReplyWait(this.lab.noReplyWaitS)
    this.captures = new CaptureSet(this.lab)
    await this.emit('lab-up', { lab: this.lab, ms: performance.now() - t0 })
    return this.lab
  }

  /** Every verdict still to come is decided, then the captures end and the lab goes down. */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.runs.values()].map(async (run) => (await run).result))
    const t0 = performance.now()
    const hadLab = this.lab !== undefined
    try {
      await this.captures?.endAll()
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

  /** Whether the step started while an earlier step's verdict was still to come. */
  async ranAhead(planned: PlannedStep): Promise<boolean> {
    return (await this.runs.get(planned.number))?.ranAhead ?? false
  }

  /** Start the step once the steps begun before it have started and let it (each as far as its
   *  verdict, or as far as it lets the scenario go on). Nothing is reported until settle(). */
  begin(planned: PlannedStep): void {
    if (this.runs.has(planned.number)) return
    const run = this.lastBegun.then(() => this.startStep(planned))
    this.lastBegun = run.catch(() => undefined)
    this.runs.set(planned.number, run)
  }

  /** The step's verdict, once decided, with its events emitted (started, hosts probed, result or
   *  skip): call in plan order. A step that ran ahead of an earlier step that failed is reported
   *  as blocked by it, as it would have been had it waited. */
  async settle(planned: PlannedStep): Promise<StepResult> {
    this.begin(planned)
    const run = await this.runs.get(planned.number)!
    const result = await run.result
    if (run.ranAhead && this.blockedBy !== undefined && this.blockedBy < planned.number) {
      const reason = `blocked by step ${this.blockedBy}`
      const title = stepTitle(planned.step)
      await this.emit('step-started', { step: planned, title })
      for (const capabilities of run.probed) await this.emit('host-probed', { capabilities })
      await this.emit('step-skipped', { step: planned, title, reason })
      return { status: 'skipped', reason }
    }
    for (const emit of run.events) await emit()
    return result
  }

  private async startStep(planned: PlannedStep): Promise<StepRun> {
    const { number, step, requires } = planned
    const title = stepTitle(step)
    const events: StepRun['events'] = [() => this.emit('step-started', { step: planned, title })]
    const ranAhead = this.pending.size > 0 && mayRunAhead(step, [...this.pending.values()].map((p) => p.claim), this.scenario.capture?.length ?? 0)
    if (this.pending.size > 0 && !ranAhead) await Promise.allSettled([...this.pending.values()].map((p) => p.result))
    const probed: Capabilities[] = []
    const done = (result: StepResult): StepRun => ({ events, result: Promise.resolve(result), ranAhead, probed })
    const skip = (reason: string): StepRun => {
      events.push(() => this.emit('step-skipped', { step: planned, title, reason }))
      return done({ status: 'skipped', reason })
    }
    if (this.blockedBy !== undefined) return skip(`blocked by step ${this.blockedBy}`)
    const lab = this.lab
    if (!lab) return skip('the lab was not provisioned')
    const hosts = stepHosts(step).length ? stepHosts(step) : lab.topology.hosts.map((h) => h.name)
    for (const h of hosts) {
      if (this.caps.has(h)) continue
      const capabilities = await lab.host(h).capabilities()
      this.caps.set(h, capabilities)
      probed.push(capabilities)
      events.push(() => this.emit('host-probed', { capabilities }))
    }
    const missing = missingRequirements(requires, hosts.map((h) => this.caps.get(h)!))
    if (missing) return skip(missing)
    if (!this.machineLock && requires.kernel.some((f) => lab.machineWide?.includes(f))) {
      this.machineLock = await MachineLock.acquire(`${this.opts.backend}-machine-wide-state`)
    }
    const ctx = new StepContext(lab, step.timeoutMs ?? this.stepTimeoutMs, { explainMissingNamespace: true, replyWait: this.replyWait, ...(this.captures ? { captures: this.captures } : {}) })
    const record: StepRecord = { transcript: ctx.transcript, notes: ctx.notes, attachments: ctx.attachments }
    const t0 = performance.now()
    const outcome = runStep(step, ctx, this.scenario.capture)
    const result: Promise<StepResult & { status: 'passed' | 'failed' }> = outcome.then(
      (o) => ({ status: 'passed' as const, record, outcome: o }),
      (error: unknown) => {
        this.blockedBy = Math.min(this.blockedBy ?? number, number)
        return { status: 'failed' as const, record, error }
      },
    )
    const finished = result.then((r) => {
      const ms = performance.now() - t0
      events.push(() => this.emit('step-result', { step: planned, title, result: r, ms }))
      return r
    })
    // Only a "no reply" claim lets the scenario go on before its verdict.
    const claim = noReplyClaim(step)
    const wentOn = await Promise.race([finished.then(() => false), claim ? ctx.wentOn.then(() => true) : new Promise<boolean>(() => {})])
    if (wentOn && claim) {
      this.pending.set(number, { claim, result: finished })
      void finished.finally(() => this.pending.delete(number))
    }
    return { events, result: finished, ranAhead, probed }
  }

  /** The whole plan: lab up, every step in order, lab down (also when a step or a subscriber
   *  throws). For drivers that are not a test runner (the bench). */
  async runAll(plan: PlannedStep[] = planSteps(this.scenario)): Promise<StepResult[]> {
    await this.start()
    try {
      for (const planned of plan) this.begin(planned)
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
