// What every runner of scenarios shares, `labproof run` (run/run-scenarios.ts) and the vitest
// binding (scenario/runner.ts): a scenario's engine with the reports subscribed (Allure, the run
// records, the end state), and a step's verdict as settle() gives it, with the scenario's hint.
import { ScenarioEngine } from '../engine/engine.ts'
import type { Subscriber } from '../engine/events.ts'
import type { RunOptions } from '../engine/run-options.ts'
import { endStateSubscriber } from '../endstate/record.ts'
import { allureSubscriber, type AllureSink } from '../report/allure.ts'
import { runRecordSubscriber } from '../report/run-record.ts'
import { withHint } from '../report/verdict.ts'
import type { LoadedScenario } from '../scenario/loader.ts'
import type { PlannedStep } from '../scenario/plan.ts'

/** How long a lab may take to come up (a VM's first boot builds its image). */
export const PROVISION_TIMEOUT_MS = 600_000
/** How long a lab may take to go down. */
export const STOP_TIMEOUT_MS = 60_000

/** The scenario's engine, reporting to Allure (through `allure`), the run records and the end
 *  state (before teardown, to reports/endstate/: grading's reference). `keep` wraps each
 *  subscriber (the CLI drops what comes after it was interrupted). */
export function reportingEngine(s: LoadedScenario, opts: RunOptions, allure: AllureSink, keep: (sub: Subscriber) => Subscriber = (sub) => sub): ScenarioEngine {
  return new ScenarioEngine(s, opts)
    .subscribe(keep(allureSubscriber(allure)))
    .subscribe(keep(runRecordSubscriber()))
    .subscribe(keep(endStateSubscriber()))
}

export type StepVerdict =
  | { status: 'passed'; summary?: string }
  | { status: 'skipped'; reason: string }
  | { status: 'failed'; error: unknown }

/** The step's verdict, its events emitted meanwhile (call in plan order). A "no reply" claim
 *  lets the engine start the steps after it while it waits (engine.ts); they settle in turn. A
 *  failure carries the scenario's hint as the suggested fix. */
export async function settleStep(engine: ScenarioEngine, planned: PlannedStep): Promise<StepVerdict> {
  const result = await engine.settle(planned)
  if (result.status === 'skipped') return { status: 'skipped', reason: result.reason }
  if (result.status === 'failed') return { status: 'failed', error: withHint(result.error, 'hint' in planned.step ? planned.step.hint : undefined) }
  return { status: 'passed', ...(result.outcome.summary ? { summary: result.outcome.summary } : {}) }
}
