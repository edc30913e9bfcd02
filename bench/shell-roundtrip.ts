// What one host command costs labproof beyond the command itself: `npx tsx bench/shell-roundtrip.ts
// [--n 200] [--backend netns]`. On one lab, the same commands run N times each way:
//   - one host.exec per command (what a step pays today: the shell server's round trip);
//   - all N in one host script, each in its own subshell as the bench's floor runs them, timed
//     inside the host (the floor: what the command costs in a plain `sh`);
//   - all N as one batch (host.execBatch: each command its own process group, output, status and
//     timeout, in one round trip), when the backend has batches.
// Prints the median wall time per command of each, and the CPU time of the whole (this process
// and everything it ran).
import { parseArgs } from 'node:util'
import { backendByName } from '../harness/backends/index.ts'
import { buildTopology } from '../harness/topology.ts'
import { cpuMs } from './cpu.ts'

const { values } = parseArgs({ options: { n: { type: 'string', default: '200' }, backend: { type: 'string', default: 'netns' } } })
const n = Math.max(1, Number(values.n) || 200)
const backend = await backendByName(values.backend)
const lab = await backend.provision(buildTopology())
const host = lab.host('host01')
const commands = ['true', 'ip link show lo >/dev/null', 'echo 1 > /proc/sys/net/ipv4/ip_forward']

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const line = (what: string, perCommandMs: number, cpu: number) =>
  console.log(`${what.padEnd(60)} ${perCommandMs.toFixed(2).padStart(7)} ms/command, CPU ${(cpu / n).toFixed(2)} ms/command`)

try {
  for (const command of commands) {
    let cpu0 = cpuMs()
    const each: number[] = []
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      const r = await host.exec(command)
      if (r.exitCode !== 0) throw new Error(`${command}: exit ${r.exitCode} ${r.stderr}`)
      each.push(performance.now() - t0)
    }
    line(`exec, one round trip each: ${command}`, median(each), cpuMs() - cpu0)

    cpu0 = cpuMs()
    const script = `t0=$(date +%s%N)\n${Array.from({ length: n }, () => `(\n${command}\n)`).join('\n')}\nt1=$(date +%s%N)\necho $(( (t1 - t0) / 1000 ))`
    const floor = await host.exec(script, { timeoutMs: 120_000 })
    line(`floor, one sh script: ${command}`, Number(floor.stdout.trim()) / 1000 / n, cpuMs() - cpu0)

    if (host.execBatch) {
      cpu0 = cpuMs()
      const t0 = performance.now()
      const results = await Promise.all(host.execBatch(Array.from({ length: n }, () => ({ cmd: command, goOn: 0 }))).results)
      if (results.some((r) => r?.exitCode !== 0)) throw new Error(`${command}: a batched command failed`)
      line(`batch, one round trip for all: ${command}`, (performance.now() - t0) / n, cpuMs() - cpu0)
    }
  }
} finally {
  await lab.destroy()
}
