// What a capture window costs: `npx tsx bench/capture-cost.ts [--n 30] [--backend netns]`. On one
// lab, N times each: a round trip (`true`), a capture start (on `any`, and on a veth), its end, a
// mark and a cut of a kept capture with a ping's packets in the window. Prints medians (wall) and
// CPU per operation (this process and what it ran).
import { parseArgs } from 'node:util'
import { backendByName } from '../harness/backends/index.ts'
import { buildTopology } from '../harness/topology.ts'
import { RunningCapture } from '../harness/capture/tcpdump.ts'
import { cpuMs } from './cpu.ts'

const { values } = parseArgs({ options: { n: { type: 'string', default: '30' }, backend: { type: 'string', default: 'netns' } } })
const n = Math.max(1, Number(values.n) || 30)
const backend = await backendByName(values.backend)
const lab = await backend.provision(buildTopology())
const host = lab.host('host01')
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const times = new Map<string, { ms: number[]; cpu: number }>()
async function timed<T>(what: string, f: () => Promise<T>): Promise<T> {
  const t = times.get(what) ?? { ms: [], cpu: 0 }
  times.set(what, t)
  const [t0, c0] = [performance.now(), cpuMs()]
  const r = await f()
  t.ms.push(performance.now() - t0)
  t.cpu += cpuMs() - c0
  return r
}
try {
  const gw = lab.topology.hosts[0]!.underlayAddress.split('/')[0]
  const kept = await RunningCapture.start(lab, { on: 'host01:any', filter: 'icmp' })
  let from = (await kept.mark()).offset
  for (let i = 0; i < n; i++) {
    await timed('exec true', () => host.exec('true'))
    for (const on of ['host01:any', 'host01:ens33']) {
      const c = await timed(`start ${on}`, () => RunningCapture.start(lab, { on, filter: 'icmp' }))
      await timed('discard', () => c.discard())
    }
    await timed('mark', () => kept.mark())
    await host.exec(`ping -c 2 -i 0.01 -W 1 ${gw}`)
    const cut = await timed('cut', () => kept.cut(from))
    from = cut.end.offset
  }
  await kept.discard()
} finally {
  await lab.destroy()
}
for (const [what, t] of times) console.log(`${what.padEnd(36)} ${median(t.ms).toFixed(1).padStart(7)} ms median, CPU ${(t.cpu / t.ms.length).toFixed(1)} ms each`)
