// Where a run's scenarios go: the backend, and for a matrix the distro or kernel of this cell.
import { jobsFromEnv } from '../scenario/jobs.ts'

export interface RunOptions {
  backend: string
  distro?: string
  kernel?: string
  /** Scenarios provisioned and run at once, each on its own lab. */
  jobs: number
}

/** The options a vitest worker was started with (the CLI sets these variables). */
export function runOptionsFromEnv(env = process.env): RunOptions {
  const backend = env.LABPROOF_BACKEND || 'netns'
  return {
    backend,
    jobs: jobsFromEnv(env),
    ...(env.LABPROOF_DISTRO ? { distro: env.LABPROOF_DISTRO } : {}),
    ...(env.LABPROOF_KERNEL ? { kernel: env.LABPROOF_KERNEL } : {}),
  }
}

/** The matrix cell a run is: `netns`, `docker bookworm`, `qemu kernel 6.1`. */
export function cellName(o: Pick<RunOptions, 'backend' | 'distro' | 'kernel'>): string {
  return [o.backend, o.distro, o.kernel && `kernel ${o.kernel}`].filter(Boolean).join(' ')
}
