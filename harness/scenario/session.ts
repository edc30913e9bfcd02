// One scenario on one lab, step by step: provisioning, the capability gate, "blocked by step N",
// and the step itself. The vitest binding (runner.ts) and the benchmark drive the same session.
import { backendByName } from '../backends/index.ts'
import { ReplyWait } from '../checks/reply-wait.ts'
import type { Capabilities } from '../host.ts'
import type { Lab } from '../lab.ts'
import { MachineLock } from '../machine-lock.ts'
import type { LoadedScenario } from './loader.ts'
import { missingRequirements, stepHosts } from './requirements.ts'
import { runStep, type StepOutcome } from './run-step.ts'
import type { PlannedStep, RunOptions } from './runner.ts'
import { topologyOf } from './runner.ts'
import { StepContext } from './step-context.ts'

export const DEFAULT_STEP_TIMEOUT_MS = 30_000

export type StepResult =
  | { status: 'skipped'; reason: string }
  | { status: 'passed'; ctx: StepContext; outcome: StepOutcome }
  | { status: 'failed'; ctx: StepContext; error: unknown }

export class ScenarioSession {
  lab: Lab | undefined
  private blockedBy: number | undefined
  private readonly caps = new Map<string, Capabilities>()
  /** Held from the first step that uses machine-wide state until the lab is gone. */
  private machineLock: MachineLock | undefined
  /** Hosts probed for the first time by the last runStep, for the report. */
  newlyProbed: Capabilities[] = []
  /** Reply times of this session's lab (see checks/reply-wait.ts). */
  private replyWait = new ReplyWait()

  constructor(readonly scenario: LoadedScenario, readonly opts: RunOptions) {}

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
    const backend = await backendByName(this.opts.backend)
    this.lab = await backend.provision(topologyOf(this.scenario), { distro: this.opts.distro, kernel: this.opts.kernel })
    this.replyWait = new ReplyWait(this.lab.noReplyWaitS)
    return this.lab
  }

  async stop(): Promise<void> {
    await this.lab?.destroy()
    this.lab = undefined
    await this.machineLock?.release()
    this.machineLock = undefined
  }

  async runStep({ number, step, requires }: PlannedStep): Promise<StepResult> {
    this.newlyProbed = []
    if (this.blockedBy !== undefined) return { status: 'skipped', reason: `blocked by step ${this.blockedBy}` }
    const lab = this.lab
    if (!lab) return { status: 'skipped', reason: 'the lab was not provisioned' }
    const hosts = stepHosts(step).length ? stepHosts(step) : lab.topology.hosts.map((h) => h.name)
    for (const h of hosts) {
      if (this.caps.has(h)) continue
      const caps = await lab.host(h).capabilities()
      this.caps.set(h, caps)
      this.newlyProbed.push(caps)
    }
    const missing = missingRequirements(requires, hosts.map((h) => this.caps.get(h)!))
    if (missing) return { status: 'skipped', reason: missing }
    if (!this.machineLock && requires.kernel.some((f) => lab.machineWide?.includes(f))) {
      this.machineLock = await MachineLock.acquire(`${this.opts.backend}-machine-wide-state`)
    }
    const ctx = new StepContext(lab, step.timeoutMs ?? this.stepTimeoutMs, { explainMissingNamespace: true, replyWait: this.replyWait })
    try {
      return { status: 'passed', ctx, outcome: await runStep(step, ctx, this.scenario.capture) }
    } catch (error) {
      this.blockedBy = number
      return { status: 'failed', ctx, error }
    }
  }
}
