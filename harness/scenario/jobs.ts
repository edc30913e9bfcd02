// How many scenarios run at once, each on its own lab: LABPROOF_JOBS, else the backend's
// default. Read by the scenario binding (concurrent or not) and by vitest's config
// (maxConcurrency), which must agree.

/** Namespaces and containers are cheap; VMs under TCG on two cores are not. */
export const DEFAULT_JOBS: Record<string, number> = { netns: 4, docker: 4, qemu: 1, vagrant: 1 }

export function jobsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return Number(env.LABPROOF_JOBS) || DEFAULT_JOBS[env.LABPROOF_BACKEND || 'netns'] || 1
}
