// The netns backend's entry in the registry (harness/backends/index.ts): light, its code loaded
// only when a lab is made, checked for or swept.
import { defineBackend, noOptions } from '../entry.ts'

const backend = defineBackend({
  name: 'netns',
  summary: 'processes in their own namespaces on this kernel (root, util-linux)',
  defaultJobs: 4,
  options: noOptions,
  preflight: async () => (await import('./netns.ts')).netnsBackend.preflight!(),
  provision: async (topology) => (await import('./netns.ts')).netnsBackend.provision(topology),
  // Also the gateway and internet nodes of the VM backends' labs (shared/namespace-node.ts).
  reap: async () => (await import('./netns-reaper.ts')).reapNetnsLeftovers(),
  benchByDefault: true,
  benchReady: async () => process.getuid?.() === 0
    ? { available: true, detail: 'network namespaces on this kernel' }
    : { available: false, detail: 'needs root' },
})

// Named first: inside `export default f(...)` tsc would leave the .ts dynamic imports as they are.
export default backend
