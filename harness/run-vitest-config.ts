// The vitest configuration of `labproof run`, given inline rather than read from a file: the
// published package ships no vitest.config.ts, and it runs from dist/ where the test entry is
// scenarios/labs.test.js. labproof's own tests (vitest.config.ts) share SCENARIO_TEST_SETTINGS.
import path from 'node:path'
import type { CliOptions } from 'vitest/node'
import { outputDirs } from './output-dirs.ts'
import { CODE_DIR, codeFile, COMPILED } from './package-info.ts'
import { jobsFromEnv } from './scenario/jobs.ts'

/** The vitest entry that binds the scenarios (LABPROOF_SCENARIO_FILES) to tests. */
export const LABS_TEST_FILE = codeFile('scenarios/labs.test.ts')

/** How scenario tests run, under `labproof run` and in labproof's own tests alike. */
export const SCENARIO_TEST_SETTINGS = {
  // Forks, not threads: a signal reaches a worker process, whose backends remove their labs
  // (docker-reaper.ts), and netns nodes and VMs die with it (pdeathsig).
  pool: 'forks',
  testTimeout: 120_000,
  hookTimeout: 600_000,
} as const

/** dist/harness/, the compiled engine. */
const ENGINE_MODULES = new RegExp(`^${escapeRegExp(path.join(CODE_DIR, 'harness'))}/`)

export interface RunConfigOptions {
  /** Write Allure results (allure-results/) for the HTML report. */
  allure: boolean
}

/** The run's configuration; the reporters are loaded here, when a run needs them. */
export async function runConfig(o: RunConfigOptions): Promise<CliOptions> {
  const out = outputDirs()
  const { default: JunitReporter } = await import('./report/junit-reporter.ts')
  const reporters: NonNullable<CliOptions['reporters']> = ['default', new JunitReporter({ outputFile: out.junit, runRecords: out.runRecords })]
  if (o.allure) {
    const { default: AllureReporter } = await import('./report/allure-reporter.ts')
    reporters.push(new AllureReporter({ resultsDir: out.allureResults }))
  }
  return {
    root: CODE_DIR,
    config: false,
    watch: false,
    include: [path.relative(CODE_DIR, LABS_TEST_FILE)],
    setupFiles: [...(o.allure ? ['allure-vitest/setup'] : []), codeFile('harness/scenario/orphan-guard.ts')],
    reporters,
    ...SCENARIO_TEST_SETTINGS,
    // One test file: one worker, which need not be isolated from anything.
    maxWorkers: 1,
    isolate: false,
    maxConcurrency: jobsFromEnv(),
    // Nothing to remember between runs (vitest would write its results cache under the package).
    cache: false,
    // The compiled engine is plain JavaScript Node loads itself: vite would transform every
    // module of dist/harness/ again in the worker (about a second) for nothing. Only the test
    // entry and the setup file go through vitest's module runner. The TypeScript (a checkout
    // with a stale build) has to be transformed.
    ...(COMPILED ? { server: { deps: { external: [ENGINE_MODULES] } } } : {}),
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
