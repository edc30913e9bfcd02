// `npx tsx bench/provision.ts [--backend netns] [--reps 20]`: how long a backend takes to make
// the default lab (Host 01, Host 02, the gateway and the internet host: four nodes) and to remove
// it, one lab at a time, with the machine's load beside the numbers. It asserts nothing.
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { backendEntry } from '../harness/backends/index.ts'
import { buildTopology } from '../harness/topology.ts'
import { formatSpread, spread } from './stats.ts'

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'netns' }, reps: { type: 'string', default: '20' } } })
const backend = backendEntry(values.backend)
const reps = Math.max(1, Number(values.reps) || 20)
await backend.preflight()

const provision: number[] = []
const destroy: number[] = []
const load = loadavg()[0]!.toFixed(1)
// One untimed lab first: the code loads and the kernel's caches fill.
await (await backend.provision(buildTopology())).destroy()
for (let i = 0; i < reps; i++) {
  const t0 = performance.now()
  const lab = await backend.provision(buildTopology())
  const t1 = performance.now()
  await lab.destroy()
  provision.push(t1 - t0)
  destroy.push(performance.now() - t1)
}
const nodes = buildTopology().hosts.length + 2
process.stdout.write(`${backend.name}: ${nodes} nodes, ${reps} labs one after another (load average ${load} before, ${loadavg()[0]!.toFixed(1)} after)\n`)
process.stdout.write(`  provision ms: median ${formatSpread(spread(provision))}, q1–q3 ${Math.round(spread(provision).q1)}–${Math.round(spread(provision).q3)}\n`)
process.stdout.write(`  destroy ms:   median ${formatSpread(spread(destroy))}\n`)
