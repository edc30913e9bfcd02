// How scenarios bound to vitest (scenario/runner.ts, through scenarios/labs.test.ts) must run:
// labproof's own tests (vitest.config.ts) and any vitest suite that binds scenarios use these.
// `labproof run` runs no vitest (run/run-scenarios.ts).
export const SCENARIO_TEST_SETTINGS = {
  // Forks, not threads: a signal reaches a worker process, whose backends remove their labs
  // (docker-reaper.ts), and netns nodes and VMs die with it (pdeathsig).
  pool: 'forks',
  testTimeout: 120_000,
  hookTimeout: 600_000,
} as const
