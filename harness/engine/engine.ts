// Runs a scenario's plan on a lab, step by step, and tells its subscribers what happens: lab up,
// host probed, step started, step result (with transcript and evidence), step skipped (with the
// reason), lab down. It decides what runs: the capability gate (a step needing what a host lacks
// is skipped with that reason) and "blocked by step N" after a failure. It reports nothing
// itself; the vitest binding (scenario/runner.ts), Allure and the run records subscribe.
import { backendByName } from '../backends/index.ts'
import { ReplyWait } from '../checks/reply-wait.ts'
import type { Capabilities } from '../host.ts'
import type { Lab } from '../lab.ts'
import { MachineLock } from '../machine-lock.ts'
import type { LoadedScenario } from '../scenario/loader.ts'
import { planSteps, topologyOf, type PlannedStep } from '../scenario/plan.ts'
import { missingRequirements, stepHosts } from '../scenario/requirements.ts'
import { runStep, stepTitle } from '../scenario/run-step.ts'
import { StepContext } from '../scenario/step-context.ts'
import type { EngineEvent, EngineEventType, EventOf, RunOf, StepRecord, StepResult, Subscriber } from './events.ts'
import { cellName, type RunOptions } from './run-options.ts'

export const DEFAULT_STEP_TIMEOUT_MS = 30_000

type Payload<T extends EngineEventType> = Omit<EventOf<T>, keyof RunOf | 'type'>

export class ScenarioEngine {
  lab: Lab | undefined
  private blockedBy: number | undefined
  private readonly caps = new Map<string, Capabilities>()
  /** Held from the first step that uses machine-wide state until the lab is gone. */
  private machineLock: MachineLock | undefined
  /** Reply times of this engine's lab (see checks/reply-wait.ts). */
  private replyWait = new ReplyWait()
  private readonly subscribers: Subscriber[] = []
  private readonly run: RunOf

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
    await this.emit('lab-up', { lab: this.lab, ms: performance.now() - t0 })
    return this.lab
  }

  async stop(): Promise<void> {
    const t0 = performance.now()
    const hadLab = this.lab !== undefined
    try {
      await this.lab?.destroy()
    } finally {
      this.lab = undefined
      await this.machineLock?.release()
      this.machineLock = undefined
    }
    if (hadLab) await this.emit('lab-down', { ms: performance.now() - t0 })
  }

  async runStep(planned: PlannedStep): Promise<StepResult> {
    const { number, step, requires } = planned
    const title = stepTitle(step)
    await this.emit('step-started', { step: planned, title })
    const skip = async (reason: string): Promise<StepResult> => {
      await this.emit('step-skipped', { step: planned, title, reason })
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
      await this.emit('host-probed', { capabilities })
    }
    const missing = missingRequirements(requires, hosts.map((h) => this.caps.get(h)!))
    if (missing) return skip(missing)
    if (!this.machineLock && requires.kernel.some((f) => lab.machineWide?.includes(f))) {
      this.machineLock = await MachineLock.acquire(`${this.opts.backend}-machine-wide-state`)
    }
    const ctx = new StepContext(lab, step.timeoutMs ?? this.stepTimeoutMs, { explainMissingNamespace: true, replyWait: this.replyWait })
    const record: StepRecord = { transcript: ctx.transcript, notes: ctx.notes, attachments: ctx.attachments }
    const t0 = performance.now()
    let result: StepResult & { status: 'passed' | 'failed' }
    try {
      result = { status: 'passed', record, outcome: await runStep(step, ctx, this.scenario.capture) }
    } catch (error) {
      this.blockedBy = number
      result = { status: 'failed', record, error }
    }
    await this.emit('step-result', { step: planned, title, result, ms: performance.now() - t0 })
    return result
  }

  /** The whole plan: lab up, every step in order, lab down (also when a step or a subscriber
   *  throws). For drivers that are not a test runner (the bench). */
  async runAll(plan: PlannedStep[] = planSteps(this.scenario)): Promise<StepResult[]> {
    await this.start()
    try {
      const results: StepResult[] = []
      for (const planned of plan) results.push(await this.runStep(planned))
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
