// The docker backend's entry in the registry (harness/backends/index.ts): light, so the help and
// the config read it without loading testcontainers; the code loads when a lab is made.
import { defineBackend } from '../entry.ts'
import { dockerOptions } from './docker-options.ts'

const backend = defineBackend({
  name: 'docker',
  summary: 'containers on --internal networks (a docker engine)',
  defaultJobs: 4,
  options: dockerOptions,
  matrix: ['distro'],
  envDefaults: { image: 'LABPROOF_DOCKER_IMAGE', privileged: 'LABPROOF_DOCKER_PRIVILEGED' },
  reaperNeedsEngine: true,
  preflight: async (opts) => (await import('./docker.ts')).dockerBackend.preflight!(opts),
  provision: async (topology, opts) => (await import('./docker.ts')).dockerBackend.provision(topology, opts),
  reap: async () => (await import('./docker-reaper.ts')).reapStaleDocker(),
  benchByDefault: true,
  benchReady: async () => (await import('./docker-bench.ts')).dockerBenchReady(),
})

// Named first: inside `export default f(...)` tsc would leave the .ts dynamic imports as they are.
export default backend
