// Where `labproof run`'s settings come from: the command line wins, then the environment, then
// the configuration file, then the defaults.
import path from 'node:path'
import type { LabproofConfig } from '../config.ts'
import { positiveInteger } from './usage.ts'

export interface RunSettings {
  backend: string
  /** Scenarios at once; undefined: the backend's default. */
  jobs?: number
  /** The output folder; undefined: the current directory. */
  output?: string
}

export function runSettings(
  options: { backend?: string; jobs?: string; out?: string },
  config: LabproofConfig,
  env: NodeJS.ProcessEnv = process.env,
): RunSettings {
  const jobs = options.jobs !== undefined ? positiveInteger(options.jobs, 'jobs')
    : env.LABPROOF_JOBS ? positiveInteger(env.LABPROOF_JOBS, 'jobs (LABPROOF_JOBS)')
    : config.jobs
  const output = options.out !== undefined ? path.resolve(options.out) : env.LABPROOF_OUTPUT_DIR ? path.resolve(env.LABPROOF_OUTPUT_DIR) : config.output
  return {
    backend: options.backend ?? config.backend ?? 'netns',
    ...(jobs !== undefined ? { jobs } : {}),
    ...(output !== undefined ? { output } : {}),
  }
}
