import { backendEntry } from '../harness/backends/index.ts'
import { buildTopology } from '../harness/topology.ts'
const b = backendEntry('qemu')
await b.preflight({ kernel: '6.1' })
for (let i = 0; i < 4; i++) {
  const t0 = performance.now()
  const lab = await b.provision(buildTopology(), { kernel: '6.1' })
  console.error(`TIMING total ${(performance.now() - t0).toFixed(0)} ${lab.facts.start}`)
  await lab.destroy()
}
