import { defineConfig } from 'vitest/config'
import { outputDirs } from './harness/output-dirs.ts'
import AllureReporter from './harness/report/allure-reporter.ts'
import JunitReporter from './harness/report/junit-reporter.ts'
import { jobsFromEnv } from './harness/scenario/jobs.ts'

const out = outputDirs()

// One config for the harness's own tests and the scenarios. Reporters: the console, JUnit for
// CI systems (labproof's own: skip reasons, scenario files and lines, honest when interrupted),
// and allure-vitest with skip reasons for the HTML report (`labproof run --report`).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'scenarios/**/*.test.ts'],
    setupFiles: ['allure-vitest/setup', './harness/scenario/orphan-guard.ts'],
    reporters: [
      'default',
      new JunitReporter({ outputFile: out.junit, runRecords: out.runRecords }),
      new AllureReporter({ resultsDir: out.allureResults }),
    ],
    pool: 'forks',
    // How many scenarios run at once, each on its own lab.
    maxConcurrency: jobsFromEnv(),
    testTimeout: 120_000,
    hookTimeout: 600_000,
  },
})
