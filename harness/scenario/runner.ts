// Bind a scenario to vitest: the scenario is a describe, each step a test, in document order.
// For labproof's own tests (`npm test`) and users who bind scenarios in their own vitest suites;
// `labproof run` drives the engine itself (run/run-scenarios.ts), with the same engine and
// reports (run/scenario-engine.ts). The engine (harness/engine/) decides what runs and emits what
// happens; this binding turns each step's verdict into the test's (a skip with its reason, a
// failure with its error), and Allure (through allure-vitest) and the run records subscribe to
// the same events.
import * as allure from 'allure-js-commons'
import { afterAll, beforeAll, describe, test, type TestContext } from 'vitest'
import { cellName, type RunOptions } from '../engine/run-options.ts'
import { runRecordsWritten } from '../report/run-record.ts'
import { stepMeta } from '../report/step-meta.ts'
import { PROVISION_TIMEOUT_MS, reportingEngine, settleStep, STOP_TIMEOUT_MS } from '../run/scenario-engine.ts'
import type { LoadedScenario } from './loader.ts'
import { planSteps } from './plan.ts'
import { stepTitle } from './run-step.ts'

export function bindScenario(s: LoadedScenario, opts: RunOptions): void {
  // allure-js-commons' API finds the vitest test each event comes in (allure-vitest's runtime).
  const engine = reportingEngine(s, opts, allure)
  // Scenarios run side by side on separate labs; the steps of one scenario run in order.
  const suite = opts.jobs > 1 ? describe.concurrent : describe
  suite(`${s.id}: ${s.title}`, () => {
    const plan = planSteps(s)
    beforeAll(() => engine.start(), PROVISION_TIMEOUT_MS)
    afterAll(() => engine.stop(), STOP_TIMEOUT_MS)

    for (const planned of plan) {
      // The meta names the step (scenario, file, line, cell, hint) for the JUnit file.
      const meta = { labproof: stepMeta(s, planned, cellName(opts)) }
      test.sequential(`step ${planned.number}: ${stepTitle(planned.step)}`, { timeout: engine.stepBudgetMs(planned.step), meta }, async (t: TestContext) => {
        const verdict = await settleStep(engine, planned)
        // The JUnit reporter renders the step from its run records when the test ends.
        await runRecordsWritten()
        if (verdict.status === 'skipped') t.skip(verdict.reason)
        if (verdict.status === 'failed') throw verdict.error
      })
    }
  })
}
