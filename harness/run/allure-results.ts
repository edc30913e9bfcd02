// allure-results/ written by `labproof run` itself, one result per step, in the format Allure's
// report reads (what allure-vitest wrote for the step's test before: the same name, labels,
// parameters, attachments as steps, statuses, and a skip's reason as its message), without
// vitest. report/allure.ts's subscriber fills the step being settled through its sink; the
// result is written when the step has its verdict. Files are written whole (temporary file, then
// rename) as each comes, without an fsync each: a process killed meanwhile leaves whole files.
import { createHash, randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import path from 'node:path'
import { getMessageAndTraceFromError, getStatusFromError } from 'allure-js-commons/sdk'
import type { AllureSink } from '../report/allure.ts'
import { writeFileAtomic } from '../report/atomic-write.ts'
import type { StepVerdict } from './scenario-engine.ts'

interface Label { name: string; value: string }
interface Parameter { name: string; value: string; excluded?: boolean }
interface AttachmentStep { name: string; attachments: { name: string; source: string; type: string }[]; start: number; stop: number }

/** One step's test result while it is settled. */
export class AllureStepResult implements AllureSink {
  private readonly uuid = randomUUID()
  private readonly start = Date.now()
  private readonly labels: Label[] = []
  private readonly parameters: Parameter[] = []
  private readonly steps: AttachmentStep[] = []

  constructor(
    private readonly resultsDir: string,
    /** `namespace-routing: Route between two namespaces through the host` */
    private readonly suite: string,
    /** `step 41: ping 10.10.10.2 from host01/ns2 (ttl 63)` */
    private readonly name: string,
    /** The scenario file, relative to the current directory. */
    private readonly file: string,
  ) {}

  label(name: string, value: string): void {
    this.labels.push({ name, value })
  }

  parameter(name: string, value: string, options?: { excluded?: boolean }): void {
    this.parameters.push({ name, value, ...options })
  }

  attachment(name: string, content: string | Buffer, options: { contentType: string; fileExtension?: string }): void {
    const source = `${randomUUID()}-attachment.${options.fileExtension ?? extensionOf(options.contentType)}`
    writeFileAtomic(path.join(this.resultsDir, source), typeof content === 'string' ? Buffer.from(content) : content)
    const at = Date.now()
    this.steps.push({ name, attachments: [{ name, source, type: options.contentType }], start: at, stop: at })
  }

  /** Writes the result with the step's verdict. */
  finish(verdict: StepVerdict): void {
    const fullName = `labproof:${this.file}#${this.suite} ${this.name}`
    const testCaseId = md5(fullName)
    const kept = this.parameters.filter((p) => !p.excluded).sort((a, b) => a.name.localeCompare(b.name) || a.value.localeCompare(b.value))
    const result = {
      uuid: this.uuid,
      name: this.name,
      historyId: `${testCaseId}:${md5(kept.map((p) => `${p.name}:${p.value}`).join(','))}`,
      testCaseId,
      fullName,
      titlePath: ['labproof', ...this.file.split(path.sep).filter(Boolean), this.suite],
      ...outcome(verdict),
      steps: this.steps,
      attachments: [],
      parameters: this.parameters,
      labels: [
        { name: 'framework', value: 'labproof' },
        { name: 'language', value: 'javascript' },
        { name: 'parentSuite', value: this.suite },
        { name: 'host', value: hostname() },
        { name: 'thread', value: `labproof-${process.pid}` },
        ...this.labels,
      ],
      links: [],
      start: this.start,
      stop: Date.now(),
    }
    writeFileAtomic(path.join(this.resultsDir, `${this.uuid}-result.json`), JSON.stringify(result))
  }
}

/** As allure-vitest reported a test: a failure is `failed` or `broken` by its error (an assertion
 *  or not), with its message and trace; a skip is `skipped` with its reason, not yet `finished`. */
function outcome(v: StepVerdict): { status: string; statusDetails: Record<string, unknown>; stage: string } {
  if (v.status === 'passed') return { status: 'passed', statusDetails: {}, stage: 'finished' }
  if (v.status === 'skipped') return { status: 'skipped', statusDetails: { message: v.reason }, stage: 'pending' }
  const error = v.error instanceof Error ? v.error : new Error(String(v.error))
  return { status: getStatusFromError(error), statusDetails: { ...getMessageAndTraceFromError(error) }, stage: 'finished' }
}

function extensionOf(contentType: string): string {
  if (contentType === 'text/plain') return 'txt'
  if (contentType === 'application/json') return 'json'
  if (contentType === 'text/html') return 'html'
  return 'bin'
}

function md5(text: string): string {
  return createHash('md5').update(text).digest('hex')
}
