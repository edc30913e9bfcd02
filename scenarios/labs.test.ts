// The vitest entry for the scenarios. `labproof run` names the files to run in
// LABPROOF_SCENARIO_FILES (a JSON list); started directly (`npm test`, an IDE), it runs the
// default scenarios, as `labproof run` with no argument would. LABPROOF_BACKEND,
// LABPROOF_DISTRO and LABPROOF_KERNEL choose where they run.
import { loadConfig } from '../harness/config.ts'
import { runOptionsFromEnv } from '../harness/engine/run-options.ts'
import { loadScenarioFile } from '../harness/scenario/loader.ts'
import { bindScenario } from '../harness/scenario/runner.ts'
import { resolveScenarios } from '../harness/scenario/selection.ts'

const files = process.env.LABPROOF_SCENARIO_FILES ? (JSON.parse(process.env.LABPROOF_SCENARIO_FILES) as string[]) : undefined
const scenarios = files ? await Promise.all(files.map((f) => loadScenarioFile(f))) : await resolveScenarios([], { config: loadConfig() })
for (const scenario of scenarios) {
  bindScenario(scenario, runOptionsFromEnv())
}
