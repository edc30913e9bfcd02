// Where a run's scenarios go: the backend and its options, and for a matrix the distro or kernel
// of this cell. `labproof run` builds them from its command line and hands them to each
// scenario's engine; vitest (`npm test`) builds them from the environment once, in its config, and
// hands them to its workers (scenarios/labs.test.ts, through vitest's provide/inject).
import { backendNames, backendOptionsFromEnv } from '../backends/index.ts'
import { jobsFromEnv } from '../scenario/jobs.ts'
import type { ScenarioLimits } from '../scenario/limits.ts'

export interface RunOptions {
  backend: string
  distro?: string
  kernel?: string
  /** The backend's other options (--image, --privileged), checked against its schema. */
  options?: Record<string, unknown>
  /** Scenarios provisioned and run at once, each on its own lab. */
  jobs: number
  /** The scenario size limits the run's scenarios are loaded with (default: the environment's). */
  limits?: ScenarioLimits
}

/** The run's options from LABPROOF_BACKEND, LABPROOF_DISTRO, LABPROOF_KERNEL, LABPROOF_JOBS and
 *  the backend's own variables (its envDefaults): for vitest started without `labproof run`. */
export function runOptionsFromEnv(env = process.env): RunOptions {
  const backend = env.LABPROOF_BACKEND || 'netns'
  return {
    backend,
    jobs: jobsFromEnv(env),
    ...(backendNames().includes(backend) ? { options: backendOptionsFromEnv(backend, env) } : {}),
    ...(env.LABPROOF_DISTRO ? { distro: env.LABPROOF_DISTRO } : {}),
    ...(env.LABPROOF_KERNEL ? { kernel: env.LABPROOF_KERNEL } : {}),
  }
}

/** The matrix cell a run is: `netns`, `docker bookworm`, `qemu kernel 6.1`. */
export function cellName(o: Pick<RunOptions, 'backend' | 'distro' | 'kernel'>): string {
  return [o.backend, o.distro, o.kernel && `kernel ${o.kernel}`].filter(Boolean).join(' ')
}
