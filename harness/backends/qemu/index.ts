// The qemu backend's entry in the registry (harness/backends/index.ts): light, its code loaded
// only when a lab is made, checked for or swept.
import { defineBackend, valueOption } from '../entry.ts'
import { z } from 'zod'

const backend = defineBackend({
  name: 'qemu',
  summary: 'two VMs booting a chosen Debian kernel (qemu-system-x86, debootstrap)',
  // Two labs at once: a lab's guests wait on the network and their sessions much of the time
  // (under TCG on 2 cores, six scenarios on one kernel took 204 s one at a time, 102 s two at
  // a time, 117 s three at a time); the first lab's saved pair serves both.
  defaultJobs: 2,
  options: z.strictObject({
    kernel: valueOption('LIST', 'every scenario on each Debian kernel (5.10,6.1,6.12; default 6.1)'),
  }),
  matrix: ['kernel'],
  preflight: async (opts) => (await import('./qemu.ts')).qemuBackend.preflight!(opts),
  provision: async (topology, opts) => (await import('./qemu.ts')).qemuBackend.provision(topology, opts),
  reap: async () => (await import('./qemu.ts')).reapQemuLeftovers(),
  emptyCaches: async () => (await import('./vm-saved-states.ts')).emptySavedCache(),
  // Only when asked for (bench --qemu): VMs under TCG are slow.
  benchByDefault: false,
  benchReady: async () => (await import('./qemu-bench.ts')).qemuBenchReady(),
})

// Named first: inside `export default f(...)` tsc would leave the .ts dynamic imports as they are.
export default backend
