// How many scenarios run at once, each on its own lab: LABPROOF_JOBS, else the backend's
// default (from the backend registry). Read by the scenario binding (concurrent or not) and by
// vitest's config (maxConcurrency), which must agree.
import { backendEntry, backendNames } from '../backends/index.ts'

export function defaultJobs(backend: string): number {
  return backendNames().includes(backend) ? backendEntry(backend).defaultJobs : 1
}

export function jobsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return Number(env.LABPROOF_JOBS) || defaultJobs(env.LABPROOF_BACKEND || 'netns')
}
