// The vitest entry for the scenarios. `labproof run` names the files to run in
// LABPROOF_SCENARIO_FILES (a JSON list); started directly (`npm test`, an IDE), it runs the
// default scenarios, as `labproof run` with no argument would. Where they run (the backend, its
// options, the matrix cell) is provided by whoever started vitest (harness/scenario/provided-run.ts).
import { inject } from 'vitest'
import { loadConfig } from '../harness/config.ts'
import { setScenarioLimits } from '../harness/scenario/limits.ts'
import { PROVIDED_RUN } from '../harness/scenario/provided-run.ts'
import { loadScenarioFile } from '../harness/scenario/loader.ts'
import { bindScenario } from '../harness/scenario/runner.ts'
import { resolveScenarios } from '../harness/scenario/selection.ts'

const run = inject(PROVIDED_RUN)
if (!run) throw new Error(`no run options provided to vitest (${PROVIDED_RUN}): start the scenarios with labproof run, or vitest with labproof's vitest.config.ts`)
if (run.limits) setScenarioLimits(run.limits)
const files = process.env.LABPROOF_SCENARIO_FILES ? (JSON.parse(process.env.LABPROOF_SCENARIO_FILES) as string[]) : undefined
const scenarios = files ? await Promise.all(files.map((f) => loadScenarioFile(f))) : await resolveScenarios([], { config: loadConfig() })
for (const scenario of scenarios) {
  bindScenario(scenario, run)
}
