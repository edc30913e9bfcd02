// A scenario through labproof's engine, outside vitest: ScenarioEngine start, every planned
// step, stop; timed by phase.
import type { ExecResult } from '../harness/host.ts'
import type { LoadedScenario } from '../harness/scenario/loader.ts'
import { ScenarioEngine } from '../harness/engine/engine.ts'
import type { RunOptions } from '../harness/engine/run-options.ts'
import { planSteps } from '../harness/scenario/plan.ts'
import { cpuMs } from './cpu.ts'

export interface SessionRun {
  /** backend.provision until the lab is ready. */
  provisionMs: number
  stepsMs: number
  stopMs: number
  totalMs: number
  /** CPU time of this process and the commands it ran. */
  cpuMs: number
  steps: number
  passed: number
  skipped: number
  failed: number
  /** The first failure, for the report. */
  failure?: string
  /** Steps that ran (passed), and what each ran, to build and check the floor. */
  ran: Set<number>
  transcripts: Map<number, ExecResult[]>
}

export async function runSession(scenario: LoadedScenario, opts: RunOptions): Promise<SessionRun> {
  const session = new ScenarioEngine(scenario, opts)
  const plan = planSteps(scenario)
  const run: SessionRun = { provisionMs: 0, stepsMs: 0, stopMs: 0, totalMs: 0, cpuMs: 0, steps: plan.length, passed: 0, skipped: 0, failed: 0, ran: new Set(), transcripts: new Map() }
  const t0 = performance.now()
  const cpu0 = cpuMs()
  try {
    await session.start()
    const t1 = performance.now()
    run.provisionMs = t1 - t0
    // As the vitest binding drives it: each step settled in order (a "no reply" claim lets the
    // engine start the steps after it meanwhile).
    for (const planned of plan) {
      const r = await session.settle(planned)
      if (r.status === 'passed') {
        run.passed++
        run.ran.add(planned.number)
        run.transcripts.set(planned.number, r.record.transcript)
      } else if (r.status === 'skipped') run.skipped++
      else {
        run.failed++
        run.failure ??= `step ${planned.number}: ${(r.error as Error)?.message?.split('\n').slice(0, 3).join(' | ') ?? String(r.error)}`
      }
    }
    run.stepsMs = performance.now() - t1
  } finally {
    const t2 = performance.now()
    await session.stop()
    run.stopMs = performance.now() - t2
  }
  run.totalMs = performance.now() - t0
  run.cpuMs = cpuMs() - cpu0
  return run
}
