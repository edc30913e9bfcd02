// How a run's options reach vitest's workers when scenarios run under vitest (`npm test`):
// vitest.config.ts provides them under this key; scenarios/labs.test.ts injects them. Vitest hands provided values to its workers itself: the workers read no environment for
// them.
import type { RunOptions } from '../engine/run-options.ts'

export const PROVIDED_RUN = 'labproofRun'

declare module 'vitest' {
  interface ProvidedContext {
    labproofRun: RunOptions
  }
}
