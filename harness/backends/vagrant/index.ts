// The vagrant backend's entry in the registry (harness/backends/index.ts): light, its code loaded
// only when a lab is made or swept.
import { defineBackend, valueOption } from '../entry.ts'
import { z } from 'zod'

const backend = defineBackend({
  name: 'vagrant',
  summary: 'VMs from vagrant up on vagrant/Vagrantfile (vagrant and a provider)',
  defaultJobs: 1,
  options: z.strictObject({
    distro: valueOption('LIST', 'every scenario on each Vagrant box named (with a "/": debian/bookworm64; LABPROOF_VAGRANT_BOX wins)'),
  }),
  matrix: ['distro'],
  preflight: async (opts) => (await import('./vagrant.ts')).vagrantBackend.preflight?.(opts),
  provision: async (topology, opts) => (await import('./vagrant.ts')).vagrantBackend.provision(topology, opts),
  reap: async () => (await import('./vagrant.ts')).reapVagrantLeftovers(),
})

// Named first: inside `export default f(...)` tsc would leave the .ts dynamic imports as they are.
export default backend
