// How big a scenario may be. A scenario is data a contributor may send in: a file of 5 MB and
// 170 000 steps once took 34 s and 2.2 GB to load. These defaults are far above any real lab
// (the largest shipped scenario has a few hundred steps) and below what hurts; a project with
// bigger labs raises them with LABPROOF_MAX_SCENARIO_BYTES and LABPROOF_MAX_STEPS.

export const DEFAULT_MAX_SCENARIO_BYTES = 1024 * 1024
export const DEFAULT_MAX_STEPS = 2000

export interface ScenarioLimits {
  bytes: number
  steps: number
}

export function scenarioLimits(env: NodeJS.ProcessEnv = process.env): ScenarioLimits {
  return {
    bytes: positive(env.LABPROOF_MAX_SCENARIO_BYTES, 'LABPROOF_MAX_SCENARIO_BYTES') ?? DEFAULT_MAX_SCENARIO_BYTES,
    steps: positive(env.LABPROOF_MAX_STEPS, 'LABPROOF_MAX_STEPS') ?? DEFAULT_MAX_STEPS,
  }
}

function positive(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name}=${value}: a whole number above 0 is expected`)
  return n
}

export function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(n % (1024 * 1024) ? 1 : 0)} MiB` : n >= 1024 ? `${Math.round(n / 1024)} KiB` : `${n} bytes`
}
