// The vitest entry for every scenario in this folder. LABPROOF_SCENARIOS (comma-separated ids)
// picks some; LABPROOF_BACKEND, LABPROOF_DISTRO and LABPROOF_KERNEL choose where they run.
import { loadScenarios, selectScenarios } from '../harness/scenario/loader.ts'
import { runOptionsFromEnv } from '../harness/engine/run-options.ts'
import { bindScenario } from '../harness/scenario/runner.ts'

const ids = (process.env.LABPROOF_SCENARIOS ?? '').split(',').map((s) => s.trim()).filter(Boolean)
for (const scenario of selectScenarios(await loadScenarios(), ids)) {
  bindScenario(scenario, runOptionsFromEnv())
}
