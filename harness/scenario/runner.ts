// Bind a scenario to vitest: the scenario is a describe, each step a test, in document order.
// The engine (harness/engine/) decides what runs and emits what happens; this binding turns
// each step's verdict into the test's (a skip with its reason, a failure with its error), and
// Allure and the run records subscribe to the same events.
import { afterAll, beforeAll, describe, test, type TestContext } from 'vitest'
import { ScenarioEngine } from '../engine/engine.ts'
import { cellName, type RunOptions } from '../engine/run-options.ts'
import { allureSubscriber } from '../report/allure.ts'
import { runRecordSubscriber } from '../report/run-record.ts'
import { endStateSubscriber } from '../endstate/record.ts'
import { stepMeta } from '../report/step-meta.ts'
import { withHint } from '../report/verdict.ts'
import type { LoadedScenario } from './loader.ts'
import { planSteps } from './plan.ts'
import { stepTitle } from './run-step.ts'

const PROVISION_TIMEOUT_MS = 600_000

export function bindScenario(s: LoadedScenario, opts: RunOptions): void {
  // endStateSubscriber: the lab's end state, before teardown, to reports/endstate/ (grading's reference).
  const engine = new ScenarioEngine(s, opts).subscribe(allureSubscriber()).subscribe(runRecordSubscriber()).subscribe(endStateSubscriber())
  // Scenarios run side by side on separate labs; the steps of one scenario run in order.
  const suite = opts.jobs > 1 ? describe.concurrent : describe
  suite(`${s.id}: ${s.title}`, () => {
    const plan = planSteps(s)
    beforeAll(() => engine.start(), PROVISION_TIMEOUT_MS)
    afterAll(() => engine.stop(), 60_000)

    for (const planned of plan) {
      // The meta names the step (scenario, file, line, cell, hint) for the JUnit file.
      const meta = { labproof: stepMeta(s, planned, cellName(opts)) }
      test.sequential(`step ${planned.number}: ${stepTitle(planned.step)}`, { timeout: engine.stepBudgetMs(planned.step), meta }, async (t: TestContext) => {
        // The step's verdict, with its events inside this test. A "no reply" claim lets the
        // engine start the steps after it while it waits (engine.ts); their tests take their
        // verdicts in turn.
        const result = await engine.settle(planned)
        if (result.status === 'skipped') t.skip(result.reason)
        if (result.status === 'failed') throw withHint(result.error, meta.labproof.hint)
      })
    }
  })
}
