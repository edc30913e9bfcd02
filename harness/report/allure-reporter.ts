// allure-vitest's reporter, with what labproof needs on top: a skipped step's reason in its
// statusDetails (allure-vitest leaves a skip's details empty; vitest keeps the reason as the
// test's note), and a failed step's hint as the suggested fix when the error does not carry it
// already (a step that hit vitest's own timeout). Its files are written whole (temporary file,
// then rename) as allure-js-commons writes them, without its fsync of every file: the results
// are written at the end of the run, one file per step and attachment, and those fsyncs held
// the run's end for a second and more (a whole suite's results are thousands of files). A
// process killed meanwhile still leaves whole files; only a machine's crash could lose them.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { FileSystemWriter } from 'allure-js-commons/sdk/reporter'
import AllureVitestReporter, { type AllureVitestReporterConfig } from 'allure-vitest/reporter'
import type { RunnerTask } from 'vitest'
import type { Vitest } from 'vitest/node'
import { writeFileAtomic } from './atomic-write.ts'
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

  override onInit(vitest: Vitest): void {
    super.onInit(vitest)
    const runtime = (this as unknown as { allureReporterRuntime?: { writer: unknown } }).allureReporterRuntime
    if (runtime && this.resultsDir) runtime.writer = new UnsyncedWriter(this.resultsDir)
  }

  private get resultsDir(): string | undefined {
    return (this as unknown as { config: AllureVitestReporterConfig }).config.resultsDir
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

/** allure-js-commons' file writer without an fsync per file (the environment and categories,
 *  written once, go through its own code). */
class UnsyncedWriter extends FileSystemWriter {
  constructor(private readonly dir: string) {
    super({ resultsDir: dir })
  }

  override writeAttachment(name: string, content: Buffer): void {
    writeFileAtomic(path.join(this.dir, name), content)
  }

  override writeAttachmentFromPath(name: string, from: string): void {
    writeFileAtomic(path.join(this.dir, name), readFileSync(from))
  }

  override writeGroup(result: Parameters<FileSystemWriter['writeGroup']>[0]): void {
    writeFileAtomic(path.join(this.dir, `${result.uuid}-container.json`), JSON.stringify(result))
  }

  override writeResult(result: Parameters<FileSystemWriter['writeResult']>[0]): void {
    writeFileAtomic(path.join(this.dir, `${result.uuid}-result.json`), JSON.stringify(result))
  }

  override writeGlobals(name: string, info: Parameters<FileSystemWriter['writeGlobals']>[1]): void {
    writeFileAtomic(path.join(this.dir, name), JSON.stringify(info))
  }
}
