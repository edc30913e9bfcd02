// Each host its own /etc: test/scenarios/host-own-etc.yaml (host01 names a routing table in
// /etc/iproute2/rt_tables and routes by it; host02 does not know the name), through the same
// runner as the shipped scenarios, on netns and on docker.
import { fileURLToPath } from 'node:url'
import { describe, test } from 'vitest'
import { loadScenarioFile } from '../../harness/scenario/loader.ts'
import { bindScenario } from '../../harness/scenario/runner.ts'
import { dockerAnswers } from '../escape/docker-available.ts'

const scenario = await loadScenarioFile(fileURLToPath(new URL('../scenarios/host-own-etc.yaml', import.meta.url)))
const root = process.getuid?.() === 0

describe('netns', () => {
  if (root) bindScenario(scenario, { backend: 'netns', jobs: 1 })
  else test.skip('needs root', () => {})
})

describe('docker', async () => {
  if (root && (await dockerAnswers())) bindScenario(scenario, { backend: 'docker', jobs: 1 })
  else test.skip('needs root, a docker engine and labproof\'s host image', () => {})
})
