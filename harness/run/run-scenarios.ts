// `labproof run`'s runner: the scenarios on their labs in this process, without vitest. Each
// scenario gets its engine with the reports subscribed (run/scenario-engine.ts, as the vitest
// binding has), up to `jobs` scenarios at once, each on its own lab; its steps are settled in
// plan order, each within the engine's budget for it, and reported as they settle: the console,
// the JUnit file (from the run records), Allure's results. A lab that cannot be provisioned
// fails every step of its scenario with the reason. Interrupted (run/interrupt.ts), the labs up
// or on their way are destroyed and nothing more is reported.
import path from 'node:path'
import type { ScenarioEngine } from '../engine/engine.ts'
import type { Subscriber } from '../engine/events.ts'
import { cellName, type RunOptions } from '../engine/run-options.ts'
import type { AllureSink } from '../report/allure.ts'
import JunitReporter from '../report/junit-reporter.ts'
import { recordRunFact, runRecordsWritten } from '../report/run-record.ts'
import { errorType, verdictLine } from '../report/verdict.ts'
import type { LoadedScenario } from '../scenario/loader.ts'
import { planSteps, type PlannedStep } from '../scenario/plan.ts'
import { stepTitle } from '../scenario/run-step.ts'
import { AllureStepResult } from './allure-results.ts'
import type { ConsoleReport, Tally } from './console-report.ts'
import { onStop, stoppingBecause } from './interrupt.ts'
import { PROVISION_TIMEOUT_MS, reportingEngine, settleStep, STOP_TIMEOUT_MS, type StepVerdict } from './scenario-engine.ts'

export interface RunScenariosOptions {
  scenarios: LoadedScenario[]
  /** Where they run (backend, options, matrix cell) and how many at once. */
  run: RunOptions
  console: ConsoleReport
  /** reports/junit.xml and the run records it is written from. */
  junit: { outputFile: string; runRecords: string }
  /** allure-results/, or nothing to write Allure's results. */
  allureResults?: string
  /** What must be done before the first lab (the sweep of dead runs' leftovers of this backend);
   *  its failure fails the run before any lab. */
  before?: Promise<unknown>
}

/** Runs the scenarios; true when a step failed or a lab could not be provisioned or removed.
 *  Never returns once the run is stopped (the tear-down exits). */
export async function runScenarios(o: RunScenariosOptions): Promise<boolean> {
  const junit = new JunitReporter({ ...o.junit, cell: cellName(o.run) }, o.scenarios.map((s) => path.resolve(s.file)))
  junit.attach()
  await o.before
  const queue = [...o.scenarios]
  let failed = false
  const worker = async () => {
    for (let s = queue.shift(); s; s = queue.shift()) failed = (await runScenario(s, o, junit)) || failed
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.run.jobs, o.scenarios.length)) }, worker))
  if (stoppingBecause()) await new Promise(() => {})
  await runRecordsWritten()
  junit.runEnded()
  return failed
}

/** One scenario from lab up to lab down; true when it failed. */
async function runScenario(s: LoadedScenario, o: RunScenariosOptions, junit: JunitReporter): Promise<boolean> {
  const t0 = performance.now()
  const cell = cellName(o.run)
  const suite = `${s.id}: ${s.title}`
  const tally: Tally = { passed: 0, failed: 0, skipped: 0 }
  // The step being settled: where the Allure subscriber's labels and attachments go.
  let current: AllureStepResult | undefined
  const sink: AllureSink = {
    label: (name, value) => current?.label(name, value),
    parameter: (name, value, options) => current?.parameter(name, value, options),
    attachment: (name, content, options) => current?.attachment(name, content, options),
  }
  const engine = reportingEngine(s, o.run, sink, untilStopped)
  const plan = planSteps(s)
  const report = (planned: PlannedStep, verdict: StepVerdict, ms: number) => {
    if (stoppingBecause()) return
    current?.finish(verdict)
    current = undefined
    tally[verdict.status]++
    o.console.step(s.id, `step ${planned.number}: ${stepTitle(planned.step)}`, verdict, ms)
    // Rewritten from the run records once the step's facts are in them (written meanwhile).
    void runRecordsWritten().then(() => junit.stepEnded())
  }
  const begin = (planned: PlannedStep) => {
    current = o.allureResults ? new AllureStepResult(o.allureResults, suite, `step ${planned.number}: ${stepTitle(planned.step)}`, s.file) : undefined
  }

  const starting = within(engine.start(), PROVISION_TIMEOUT_MS, `the lab was not provisioned within ${PROVISION_TIMEOUT_MS / 1000} s`)
  // Interrupted: the lab is destroyed once it is up (provisioning cannot be cut short).
  const forget = onStop(async () => (await starting.catch(() => undefined))?.destroy())
  try {
    try {
      await starting
    } catch (error) {
      // Every step fails with the reason, in every report, as a test runner's failed set-up would.
      const e = new Error(`the lab could not be provisioned: ${(error as Error)?.message ?? String(error)}`, { cause: error })
      for (const planned of plan) {
        begin(planned)
        await recordFailure(s, cell, planned, e, 0)
        report(planned, { status: 'failed', error: e }, 0)
      }
      return true
    }
    for (const planned of plan) {
      begin(planned)
      const started = performance.now()
      const verdict = await settleWithinBudget(engine, planned)
      const ms = performance.now() - started
      if (stoppingBecause()) break
      if (verdict.status === 'failed' && (verdict as { overBudget?: true }).overBudget) await recordFailure(s, cell, planned, verdict.error, ms)
      report(planned, verdict, ms)
    }
    return tally.failed > 0
  } finally {
    try {
      await within(engine.stop(), STOP_TIMEOUT_MS, `the lab was not removed within ${STOP_TIMEOUT_MS / 1000} s`)
    } catch (error) {
      tally.failed++
      if (!stoppingBecause()) o.console.scenarioError(s.id, 'removing its lab', error)
    }
    forget()
    if (!stoppingBecause()) o.console.scenarioEnded(s.id, tally, performance.now() - t0)
  }
}

/** The step's verdict, or a failure when it takes longer than the engine's budget for it (the
 *  step's own timeout, which kills its command and names it, always comes first). */
async function settleWithinBudget(engine: ScenarioEngine, planned: PlannedStep): Promise<StepVerdict> {
  const budget = engine.stepBudgetMs(planned.step)
  try {
    return await within(settleStep(engine, planned), budget, `step ${planned.number} took longer than its budget of ${budget / 1000} s`)
  } catch (error) {
    const overBudget = error instanceof BudgetExceeded
    return { status: 'failed', error, ...(overBudget ? { overBudget } : {}) } as StepVerdict
  }
}

/** A failure the engine did not record (the step never settled, or there was no lab). */
async function recordFailure(s: LoadedScenario, cell: string, planned: PlannedStep, error: unknown, ms: number): Promise<void> {
  if (stoppingBecause()) return
  await recordRunFact(s.id, cell, 'step', { step: planned.number, title: stepTitle(planned.step), status: 'failed', ms: Math.round(ms), reason: verdictLine(error), type: errorType(error), message: String((error as Error)?.message ?? error) })
}

class BudgetExceeded extends Error {
  override name = 'TimeoutError'
}

function within<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new BudgetExceeded(message)), ms)))
  return Promise.race([work, late]).finally(() => clearTimeout(timer))
}

/** The subscriber, silent once the run is stopping: what its labs' destruction makes of the
 *  steps under way is not their verdict (the JUnit file says they were interrupted). */
function untilStopped(sub: Subscriber): Subscriber {
  const kept: Record<string, (e: never) => unknown> = {}
  for (const [type, handler] of Object.entries(sub) as [string, (e: never) => unknown][]) {
    kept[type] = (e) => (stoppingBecause() ? undefined : handler(e))
  }
  return kept as Subscriber
}
