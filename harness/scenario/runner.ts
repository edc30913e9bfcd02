// Bind a scenario to vitest: the scenario is a describe, each step a test, in document order.
// The engine (harness/engine/) decides what runs and emits what happens; this binding turns
// each step's verdict into the test's (a skip with its reason, a failure with its error), and
// Allure and the run records subscribe to the same events.
import { afterAll, beforeAll, describe, test, type TestContext } from 'vitest'
import { ScenarioEngine } from '../engine/engine.ts'
import type { RunOptions } from '../engine/run-options.ts'
import { allureSubscriber } from '../report/allure.ts'
import { runRecordSubscriber } from '../report/run-record.ts'
import type { LoadedScenario } from './loader.ts'
import { planSteps } from './plan.ts'
import { stepTitle } from './run-step.ts'

const PROVISION_TIMEOUT_MS = 600_000

export function bindScenario(s: LoadedScenario, opts: RunOptions): void {
  const engine = new ScenarioEngine(s, opts).subscribe(allureSubscriber()).subscribe(runRecordSubscriber())
  // Scenarios run side by side on separate labs; the steps of one scenario run in order.
  const suite = opts.jobs > 1 ? describe.concurrent : describe
  suite(`${s.id}: ${s.title}`, () => {
    beforeAll(() => engine.start(), PROVISION_TIMEOUT_MS)
    afterAll(() => engine.stop(), 60_000)

    for (const planned of planSteps(s)) {
      test.sequential(`step ${planned.number}: ${stepTitle(planned.step)}`, async (t: TestContext) => {
        const result = await engine.runStep(planned)
        if (result.status === 'skipped') t.skip(result.reason)
        if (result.status === 'failed') throw result.error
      }, engine.stepBudgetMs(planned.step))
    }
  })
}
