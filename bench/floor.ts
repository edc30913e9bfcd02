// Run a scenario's floor on a freshly provisioned lab, through the host API (host.exec), timed.
import { backendByName } from '../harness/backends/index.ts'
import type { LoadedScenario } from '../harness/scenario/loader.ts'
import { DEFAULT_STEP_TIMEOUT_MS } from '../harness/engine/engine.ts'
import { topologyOf } from '../harness/scenario/plan.ts'
import { cpuMs } from './cpu.ts'
import { floorExitCodes, floorSegments, type FloorCommand } from './floor-script.ts'

export interface FloorRun {
  provisionMs: number
  commandsMs: number
  destroyMs: number
  totalMs: number
  cpuMs: number
  /** Exit status of every command, in order (undefined: the script never got to it). */
  exitCodes: (number | undefined)[]
  scripts: number
}

export async function runFloor(scenario: LoadedScenario, commands: FloorCommand[], backendName: string): Promise<FloorRun> {
  const backend = await backendByName(backendName)
  const segments = floorSegments(commands)
  const t0 = performance.now()
  const cpu0 = cpuMs()
  const lab = await backend.provision(topologyOf(scenario))
  const t1 = performance.now()
  const exitCodes: (number | undefined)[] = []
  let t2 = t1
  try {
    for (const segment of segments) {
      const timeoutMs = segment.commands.reduce((sum, c) => sum + (c.timeoutMs ?? scenario.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS), 0)
      const r = await lab.host(segment.host).exec(segment.script, { timeoutMs })
      const codes = floorExitCodes(r.stdout)
      segment.commands.forEach((_, i) => exitCodes.push(codes.get(i)))
    }
    t2 = performance.now()
  } finally {
    await lab.destroy()
  }
  const t3 = performance.now()
  return { provisionMs: t1 - t0, commandsMs: t2 - t1, destroyMs: t3 - t2, totalMs: t3 - t0, cpuMs: cpuMs() - cpu0, exitCodes, scripts: segments.length }
}
