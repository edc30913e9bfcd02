// allure-vitest's reporter, with what labproof needs on top: a skipped step's reason in its
// statusDetails (allure-vitest leaves a skip's details empty; vitest keeps the reason as the
// test's note), and a failed step's hint as the suggested fix when the error does not carry it
// already (a step that hit vitest's own timeout).
import AllureVitestReporter, { type AllureVitestReporterConfig } from 'allure-vitest/reporter'
import type { RunnerTask } from 'vitest'
import { suggestedFix } from './verdict.ts'

type Listener = NonNullable<AllureVitestReporterConfig['listeners']>[number]
type AllureResult = Parameters<NonNullable<Listener['beforeTestResultWrite']>>[0]

export default class LabproofAllureReporter extends AllureVitestReporter {
  /** The vitest test whose result allure-vitest is writing (handleTask is synchronous). */
  private current: RunnerTask | undefined

  constructor(config: AllureVitestReporterConfig) {
    const listener: Listener = { beforeTestResultWrite: (result) => this.complete(result) }
    super({ ...config, listeners: [...(config.listeners ?? []), listener] })
  }

  override handleTask(task: RunnerTask): void {
    const outer = this.current
    this.current = task
    try {
      super.handleTask(task)
    } finally {
      this.current = outer
    }
  }

  private complete(result: AllureResult): void {
    const task = this.current
    if (!task || task.type !== 'test') return
    // vitest keeps ctx.skip(note)'s note on the result, though its type does not say so.
    const note = (task.result as { note?: string } | undefined)?.note
    if (result.status === 'skipped' && note) result.statusDetails = { ...result.statusDetails, message: note }
    const hint = task.meta.labproof?.hint
    if ((result.status === 'failed' || result.status === 'broken') && hint) {
      const message = result.statusDetails?.message ?? ''
      if (!message.includes(suggestedFix(hint))) result.statusDetails = { ...result.statusDetails, message: `${message}\n${suggestedFix(hint)}`.trim() }
    }
  }
}
