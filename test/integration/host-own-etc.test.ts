// Each host its own /etc: test/scenarios/host-own-etc.yaml (host01 names a routing table in
// /etc/iproute2/rt_tables and routes by it; host02 does not know the name), through the same
// runner as the shipped scenarios, on netns and on docker. Where an engine is missing the suite
// skips saying why, or fails when LABPROOF_REQUIRE names it (test/helpers/engines.ts).
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { loadScenarioFile } from '../../harness/scenario/loader.ts'
import { bindScenario } from '../../harness/scenario/runner.ts'
import { describeWithEngine, dockerMissing, rootMissing } from '../helpers/engines.ts'

const scenario = await loadScenarioFile(fileURLToPath(new URL('../scenarios/host-own-etc.yaml', import.meta.url)))

/** The suite builds no image: labproof's host image must be there already. */
function hostImageMissing(): string | undefined {
  const images = spawnSync('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}', 'labproof/host'], { encoding: 'utf8', timeout: 10_000 })
  return images.stdout.trim() ? undefined : 'labproof\'s host image is not built (npx labproof image build)'
}

describeWithEngine('root', rootMissing(), 'netns', () => {
  bindScenario(scenario, { backend: 'netns', jobs: 1 })
})

const dockerWhy = rootMissing() ?? await dockerMissing() ?? hostImageMissing()
describeWithEngine('docker', dockerWhy, 'docker', () => {
  bindScenario(scenario, { backend: 'docker', jobs: 1 })
})
