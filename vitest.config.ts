import { defineConfig } from 'vitest/config'

// One config for the harness's own tests and the scenarios. Reporters: the console, JUnit for
// CI systems, and allure-vitest for the HTML report (`labproof run --report`).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'scenarios/**/*.test.ts'],
    setupFiles: ['allure-vitest/setup'],
    reporters: [
      'default',
      ['junit', { outputFile: 'reports/junit.xml' }],
      ['allure-vitest/reporter', { resultsDir: 'allure-results' }],
    ],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 600_000,
  },
})
