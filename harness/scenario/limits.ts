// How big a scenario may be. A scenario is data a contributor may send in: a file of 5 MB and
// 170 000 steps once took 34 s and 2.2 GB to load. These defaults are far above any real lab
// (the largest shipped scenario has a few hundred steps) and below what hurts; a project with
// bigger labs raises them: `labproof run --max-steps N --max-scenario-bytes N`, else the
// environment (LABPROOF_MAX_STEPS, LABPROOF_MAX_SCENARIO_BYTES), else the config file's
// "maxSteps" and "maxScenarioBytes". A refusal says which limit it was and where it was set.

export const DEFAULT_MAX_SCENARIO_BYTES = 1024 * 1024
export const DEFAULT_MAX_STEPS = 2000

export interface ScenarioLimits {
  bytes: number
  steps: number
  /** Where each limit was set ("labproof.config.yaml:3", "--max-steps", "LABPROOF_MAX_STEPS");
   *  absent: the default. */
  from?: { bytes?: string; steps?: string }
}

/** A limit as a config file set it: the value and where (file:line). */
export interface ConfiguredLimit {
  value: number
  at: string
}

export interface LimitSources {
  cli?: { bytes?: number; steps?: number }
  env?: NodeJS.ProcessEnv
  config?: { bytes?: ConfiguredLimit; steps?: ConfiguredLimit }
}

const ENV = { bytes: 'LABPROOF_MAX_SCENARIO_BYTES', steps: 'LABPROOF_MAX_STEPS' } as const
const CLI = { bytes: '--max-scenario-bytes', steps: '--max-steps' } as const
const CONFIG = { bytes: 'maxScenarioBytes', steps: 'maxSteps' } as const

let chosen: ScenarioLimits | undefined

/** The limits every scenario loaded by this process is held to from now on (the CLI sets them
 *  once from its options, the environment and the config; a vitest worker from its run). */
export function setScenarioLimits(limits: ScenarioLimits | undefined): void {
  chosen = limits
}

/** The limits set for this process, else those of the environment, else the defaults. */
export function scenarioLimits(env: NodeJS.ProcessEnv = process.env): ScenarioLimits {
  return chosen ?? resolveLimits({ env })
}

/** Each limit from the command line, else the environment, else the config file, else its default. */
export function resolveLimits(s: LimitSources): ScenarioLimits {
  const from: { bytes?: string; steps?: string } = {}
  const pick = (which: 'bytes' | 'steps', fallback: number): number => {
    const cli = s.cli?.[which]
    if (cli !== undefined) return (from[which] = CLI[which]), cli
    const env = positive(s.env?.[ENV[which]], ENV[which])
    if (env !== undefined) return (from[which] = ENV[which]), env
    const config = s.config?.[which]
    if (config) return (from[which] = config.at), config.value
    return fallback
  }
  const bytes = pick('bytes', DEFAULT_MAX_SCENARIO_BYTES)
  const steps = pick('steps', DEFAULT_MAX_STEPS)
  return { bytes, steps, ...(Object.keys(from).length ? { from } : {}) }
}

/** What a refusal adds: where the limit was set, and how to raise it. */
export function limitHint(which: 'bytes' | 'steps', limits: ScenarioLimits): string {
  const at = limits.from?.[which]
  const ways = `${CLI[which]} N, ${ENV[which]} or "${CONFIG[which]}" in labproof.config.*`
  return at ? `the limit set by ${at}; raise it there or with ${ways}` : `the default; raise it with ${ways}`
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
