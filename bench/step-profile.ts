// Where a scenario's time goes, step by step: `npx tsx bench/step-profile.ts ID [BACKEND]`
// runs one scenario through ScenarioEngine (as the bench's sessions do) and prints, per step,
// its wall time and every host command it ran with its own time; then provisioning, the steps,
// teardown, and CPU (this process alone, and with every command it ran). Add `node --cpu-prof`
// (NODE_OPTIONS) for the engine's own profile.
import { BaseHost } from '../harness/base-host.ts'
import { ScenarioEngine } from '../harness/engine/engine.ts'
import { runOptionsFromEnv } from '../harness/engine/run-options.ts'
import { loadScenarios, selectScenarios } from '../harness/scenario/loader.ts'
import { planSteps } from '../harness/scenario/plan.ts'
import { cpuMs } from './cpu.ts'

const [id, backend = 'netns'] = process.argv.slice(2)
if (!id) throw new Error('usage: npx tsx bench/step-profile.ts SCENARIO-ID [BACKEND]')
const [scenario] = selectScenarios(await loadScenarios(), [id])
const execs: { command: string; ms: number }[] = []
// Every command of every host, timed where the engine waits for it.
const exec = BaseHost.prototype.exec
BaseHost.prototype.exec = async function (this: BaseHost, cmd, opts) {
  const t0 = performance.now()
  const r = await exec.call(this, cmd, opts)
  execs.push({ command: `${this.name}${opts?.netns ? `/${opts.netns}` : ''}: ${cmd.split('\n')[0]!.slice(0, 60)}`, ms: performance.now() - t0 })
  return r
}
// A batch's commands (engine.ts beginBatch), each timed by the host from its start to its end.
const execBatch = BaseHost.prototype.execBatch
BaseHost.prototype.execBatch = function (this: BaseHost, commands) {
  const batch = execBatch.call(this, commands)
  batch.results.forEach((r, i) => void r.then((x) => x && execs.push({ command: `${this.name}${commands[i]!.netns ? `/${commands[i]!.netns}` : ''}: (batch ${i + 1}/${commands.length}) ${commands[i]!.cmd.split('\n')[0]!.slice(0, 60)}`, ms: x.ms }), () => undefined))
  return batch
}
const engine = new ScenarioEngine(scenario!, { ...runOptionsFromEnv({ ...process.env, LABPROOF_BACKEND: backend }), backend })
const ownCpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }
const [t0, cpu0, own0] = [performance.now(), cpuMs(), ownCpu()]
await engine.start()
const t1 = performance.now()
execs.length = 0
let last = t1
for (const planned of planSteps(scenario!)) {
  const result = await engine.settle(planned)
  const now = performance.now()
  const ran = execs.splice(0)
  console.log(`step ${String(planned.number).padStart(3)} ${(now - last).toFixed(0).padStart(6)} ms ${result.status.padEnd(7)} ${ran.map((e) => `[${e.ms.toFixed(0)} ms ${e.command}]`).join(' ')}`)
  last = now
}
const t2 = performance.now()
await engine.stop()
const t3 = performance.now()
console.log(`provision ${(t1 - t0).toFixed(0)} ms, steps ${(t2 - t1).toFixed(0)} ms, stop ${(t3 - t2).toFixed(0)} ms, total ${(t3 - t0).toFixed(0)} ms; ` +
  `CPU ${(ownCpu() - own0).toFixed(0)} ms in this process, ${(cpuMs() - cpu0).toFixed(0)} ms with the commands it ran`)
