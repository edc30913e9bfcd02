// A scenario's steps on a started engine's lab: the first `passing` settled in order, as a run
// settles them (the engine may run consecutive steps on a host as one batch), then each later
// step on its own, as it would run after those passed (for checks meant to fail, one by one).
import { ScenarioEngine } from '../../harness/engine/engine.ts'
import type { StepResult } from '../../harness/engine/events.ts'
import { planSteps } from '../../harness/scenario/plan.ts'

export async function settleThenEachAlone(engine: ScenarioEngine, passing: number): Promise<StepResult[]> {
  const plan = planSteps(engine.scenario)
  const results: StepResult[] = []
  for (const planned of plan.slice(0, passing)) results.push(await engine.settle(planned))
  for (const planned of plan.slice(passing)) {
    const fresh = new ScenarioEngine(engine.scenario, engine.opts)
    fresh.lab = engine.lab
    results.push(await fresh.runStep(planned))
  }
  return results
}
