import { defineConfig } from 'vitest/config'
import { outputDirs } from './harness/output-dirs.ts'
import AllureReporter from './harness/report/allure-reporter.ts'
import JunitReporter from './harness/report/junit-reporter.ts'
import { jobsFromEnv } from './harness/scenario/jobs.ts'
import { runOptionsFromEnv } from './harness/engine/run-options.ts'
import { PROVIDED_RUN } from './harness/scenario/provided-run.ts'
import { SCENARIO_TEST_SETTINGS } from './harness/scenario/vitest-settings.ts'

const out = outputDirs()

// labproof's own tests and the scenarios, from the TypeScript (`labproof run` runs no vitest:
// it drives the same engine and reports itself, harness/run/run-scenarios.ts).
// Reporters: the console, JUnit for CI systems (labproof's own: skip reasons, scenario files and
// lines, honest when interrupted), and allure-vitest with skip reasons for the HTML report.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'scenarios/**/*.test.ts'],
    setupFiles: ['allure-vitest/setup', './harness/scenario/orphan-guard.ts'],
    reporters: [
      'default',
      new JunitReporter({ outputFile: out.junit, runRecords: out.runRecords }),
      new AllureReporter({ resultsDir: out.allureResults }),
    ],
    ...SCENARIO_TEST_SETTINGS,
    // How many scenarios run at once, each on its own lab.
    maxConcurrency: jobsFromEnv(),
    // Where the scenarios run, for scenarios/labs.test.ts: from the environment, read here once.
    provide: { [PROVIDED_RUN]: runOptionsFromEnv() },
    // The tests that run `labproof clean` must not empty this machine's kept VM saves (a qemu
    // test that keeps saves names a cache of its own): saves for the run only, unless set.
    env: { LABPROOF_QEMU_SAVED_CACHE: process.env.LABPROOF_QEMU_SAVED_CACHE ?? 'off' },
  },
})
