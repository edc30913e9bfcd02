// Facts a run learns that outlive its labs (step verdicts with their transcripts,
// confirmed errata, host capabilities), as JSON lines, one file per scenario, in two places:
// - reports/run/<scenario>.jsonl: this run's facts. The JUnit file (report/junit-reporter.ts),
//   the matrix (report/matrix.ts) and the baseline read them; `labproof run` empties the folder.
// - reports/by-backend/<cell>/<scenario>.jsonl: the latest run of the scenario on that backend
//   (matrix cell: `netns`, `qemu`, `qemu kernel 6.1`), with the step's pcaps beside it. A run on
//   another backend leaves it alone, so `labproof review` and `errata` (review/records.ts) merge
//   the verdicts of every backend; a new run of the scenario on the same cell replaces it.
// runRecordSubscriber() writes them from the engine's events. Each fact is appended as one
// write of one line (O_APPEND), so a fact costs its own line, not the file so far (rewriting the
// file per fact made a scenario's records quadratic in its steps), and processes appending to
// one file never lose each other's lines. A run killed mid-write can leave a torn last line,
// which readers skip (a reader takes complete JSON lines only). Every fact names its run
// (LABPROOF_RUN_ID, made by the process that runs the scenarios and inherited by any vitest
// workers it starts), so a reader can tell this run's facts from an earlier run's.
import { randomUUID } from 'node:crypto'
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs'
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Subscriber } from '../engine/events.ts'
import type { Capabilities } from '../host.ts'
import type { Attachment } from '../scenario/step-context.ts'
import { outputDirs } from '../output-dirs.ts'
import { skippedTranscript, transcriptText } from './transcript.ts'
import { errorType, suggestedFix, verdictLine } from './verdict.ts'

// Where they go is read when a fact is written, not when this module loads: `labproof run` loads
// it before its --out (or the config's output) is known.
const runRecordDir = () => outputDirs().runRecords
const backendRecordDir = () => outputDirs().backendRecords

/** A cell's folder name under reports/by-backend/: `qemu kernel 6.1` → `qemu-kernel-6.1`. */
export function cellFolder(cell: string): string {
  return cell.replace(/[^\w.-]+/g, '-')
}

/** This run's id: inherited from the process that started the workers, else made here. */
export function currentRunId(): string {
  return (process.env.LABPROOF_RUN_ID ||= randomUUID())
}

export interface StepFact {
  kind: 'step'
  run?: string
  cell: string
  step: number
  /** `running`: the step started (a 'step-started' fact) and has no verdict yet. */
  status: 'passed' | 'failed' | 'skipped' | 'running'
  /** A skip's reason, or a failure's one-line verdict. */
  reason?: string
  /** What a passed step showed, in a line (the step's summary: `ping: 3/3 replies, ttl 63`). */
  summary?: string
  /** A failure's whole message, with the scenario's hint as the suggested fix. */
  message?: string
  type?: string
  transcript?: string
  ms?: number
  /** The step as the scenario gives it (stepTitle), so a reader can tell a record of an older
   *  version of the scenario, whose step N was another step. */
  title?: string
  /** The step's packet captures, relative to the cell's folder under reports/by-backend/. */
  pcaps?: string[]
}

/** The lab a scenario ran on, as its backend describes it (Lab.facts: kernel, the accelerator
 *  that ran and why, image, timings); the JUnit file shows them as the suite's properties. */
export interface LabFact {
  kind: 'lab'
  run?: string
  cell: string
  lab: string
  facts: Record<string, string>
}

const writing = new Map<string, Promise<void>>()
/** The by-backend files this process has already claimed for this run. */
const claimed = new Set<string>()

export async function recordRunFact(scenarioId: string, cell: string, kind: string, fact: object): Promise<void> {
  const line = `${JSON.stringify({ kind, run: currentRunId(), at: new Date().toISOString(), cell, ...fact })}\n`
  await Promise.all([
    appendFact(path.join(runRecordDir(), `${scenarioId}.jsonl`), line),
    appendFact(await backendFile(scenarioId, cell), line),
  ])
}

/** The scenario's file for this cell, emptied (with its pcaps) when it holds another run. */
async function backendFile(scenarioId: string, cell: string): Promise<string> {
  const file = path.join(backendRecordDir(), cellFolder(cell), `${scenarioId}.jsonl`)
  if (claimed.has(file)) return file
  claimed.add(file)
  const first = (await readFile(file, 'utf8').catch(() => '')).split('\n', 1)[0]
  let run: string | undefined
  try {
    run = first ? (JSON.parse(first) as { run?: string }).run : undefined
  } catch {
    // a torn file: replaced below
  }
  if (first && run !== currentRunId()) {
    await rm(file, { force: true })
    await rm(evidenceDir(scenarioId, cell), { recursive: true, force: true })
  }
  return file
}

function evidenceDir(scenarioId: string, cell: string): string {
  return path.join(backendRecordDir(), cellFolder(cell), scenarioId)
}

function appendFact(file: string, line: string): Promise<void> {
  // One write at a time per file in this process, so its facts keep their order.
  const done = (writing.get(file) ?? Promise.resolve()).then(async () => {
    // The folder is made when the first append finds it missing (it may be emptied between runs).
    await appendFile(file, line).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e
      await mkdir(path.dirname(file), { recursive: true })
      await appendFile(file, line)
    })
  })
  writing.set(file, done.catch(() => {}))
  return done
}

/** A step's pcaps written beside the cell's records; their paths relative to the cell folder. */
async function keepPcaps(scenarioId: string, cell: string, step: number, attachments: Attachment[]): Promise<string[]> {
  const pcaps = attachments.filter((a) => a.fileExtension === 'pcap')
  if (pcaps.length === 0) return []
  await backendFile(scenarioId, cell)
  const dir = evidenceDir(scenarioId, cell)
  await mkdir(dir, { recursive: true })
  const kept: string[] = []
  for (const a of pcaps) {
    const name = `step-${step}-${a.name.replace(/[^\w.-]+/g, '_')}`
    await writeFile(path.join(dir, name), a.content)
    kept.push(path.join(scenarioId, name))
  }
  return kept
}

/** The step facts recorded for a scenario (every run and cell); unreadable lines are left out. */
export function readStepFacts(dir: string, scenarioId: string): StepFact[] {
  return parseFacts(readRecords(dir, scenarioId)).steps
}

/** The lab facts recorded for a scenario (every run and cell); unreadable lines are left out. */
export function readLabFacts(dir: string, scenarioId: string): LabFact[] {
  return parseFacts(readRecords(dir, scenarioId)).labs
}

function readRecords(dir: string, scenarioId: string): string {
  try {
    return readFileSync(path.join(dir, `${scenarioId}.jsonl`), 'utf8')
  } catch {
    return ''
  }
}

interface Facts {
  steps: StepFact[]
  labs: LabFact[]
}

/** The step and lab facts of complete JSON lines; a line that is not a fact is left out. */
function parseFacts(text: string, into: Facts = { steps: [], labs: [] }): Facts {
  for (const line of text.split('\n')) {
    if (!line) continue
    try {
      const f = JSON.parse(line) as StepFact | LabFact | (Omit<StepFact, 'kind' | 'status'> & { kind: 'step-started' })
      if (f.kind === 'step') into.steps.push(f)
      if (f.kind === 'step-started') into.steps.push({ ...f, kind: 'step', status: 'running' })
      if (f.kind === 'lab') into.labs.push(f)
    } catch {
      // not a fact
    }
  }
  return into
}

/** How much of a records file's beginning RunRecordTail compares. */
const HEAD_BYTES = 256

/** A scenario's run records as they grow, for a reader that looks again and again (the JUnit
 *  reporter, after every step): each look reads and parses only what was appended since the
 *  last, not the whole file again. A file replaced or emptied meanwhile is read afresh (another
 *  inode, a shorter file, or other first bytes: a line names its run). */
export class RunRecordTail implements Facts {
  steps: StepFact[] = []
  labs: LabFact[] = []
  private offset = 0
  private inode = -1
  /** The file's first bytes as read: a file put in its place begins otherwise. */
  private head = Buffer.alloc(0)
  /** The bytes after the last newline: a line still being written. */
  private partial = Buffer.alloc(0)

  constructor(readonly file: string) {}

  /** Takes in what was appended since the last call. */
  refresh(): this {
    let fd: number
    try {
      fd = openSync(this.file, 'r')
    } catch {
      this.reset(-1)
      return this
    }
    try {
      const { ino, size } = fstatSync(fd)
      if (ino !== this.inode || size < this.offset || !this.sameHead(fd)) this.reset(ino)
      if (size === this.offset) return this
      const added = Buffer.alloc(size - this.offset)
      const got = readSync(fd, added, 0, added.length, this.offset)
      if (this.offset === 0) this.head = Buffer.from(added.subarray(0, Math.min(got, HEAD_BYTES)))
      this.offset += got
      const bytes = Buffer.concat([this.partial, added.subarray(0, got)])
      const end = bytes.lastIndexOf(0x0a) + 1
      this.partial = Buffer.from(bytes.subarray(end))
      if (end > 0) parseFacts(bytes.toString('utf8', 0, end), this)
      return this
    } finally {
      closeSync(fd)
    }
  }

  private sameHead(fd: number): boolean {
    if (this.head.length === 0) return true
    const now = Buffer.alloc(this.head.length)
    return readSync(fd, now, 0, now.length, 0) === now.length && now.equals(this.head)
  }

  private reset(inode: number): void {
    this.steps = []
    this.labs = []
    this.offset = 0
    this.inode = inode
    this.head = Buffer.alloc(0)
    this.partial = Buffer.alloc(0)
  }
}

/** Facts subscribers have still to write (a lab that failed to go down emits no lab-down). */
const unwritten = new Set<Promise<void>>()

/** Every fact handed to a subscriber so far is on disk (or failed: its scenario reports it). */
export async function runRecordsWritten(): Promise<void> {
  while (unwritten.size) await Promise.all([...unwritten])
}

export function runRecordSubscriber(): Subscriber {
  const probed: Capabilities[] = []
  // A step's facts are written while the next steps run, in order: awaited per event, the appends
  // held every step up by a few ms (a fifth of a second of namespace-routing's 36 steps). They
  // are all on disk when the lab is down, where a failed write fails the scenario.
  let writes: Promise<void> = Promise.resolve()
  let failure: { error: unknown } | undefined
  const later = (write: () => Promise<void>) => {
    const done = (writes = writes.then(write).catch((error: unknown) => void (failure ??= { error })))
    unwritten.add(done)
    void done.then(() => unwritten.delete(done))
  }
  return {
    'lab-up': ({ scenario, cell, lab }) => recordRunFact(scenario.id, cell, 'lab', { lab: lab.id, facts: lab.facts }),
    'host-probed': ({ scenario, cell, capabilities: caps }) => {
      probed.push(caps)
      const missing = Object.entries(caps.features).filter(([, v]) => v !== true).map(([k]) => k)
      const missingTools = Object.entries(caps.tools).filter(([, v]) => !v).map(([k]) => k)
      later(() => recordRunFact(scenario.id, cell, 'host', { host: caps.host, kernelRelease: caps.kernelRelease, distro: caps.distro, versions: caps.versions, missing, missingTools }))
    },
    // Which step a stopped run was in the middle of.
    'step-started': ({ scenario, cell, step }) => later(() => recordRunFact(scenario.id, cell, 'step-started', { step: step.number })),
    'step-skipped': ({ scenario, cell, step, title, reason }) => {
      const transcript = skippedTranscript(step, title, reason, probed)
      later(() => recordRunFact(scenario.id, cell, 'step', { step: step.number, title, status: 'skipped', reason, transcript, ms: 0 }))
    },
    'step-result': ({ scenario, cell, step, title, result, ms }) => later(async () => {
      const transcript = transcriptText(result.record)
      const pcaps = await keepPcaps(scenario.id, cell, step.number, result.record.attachments)
      const fact: Omit<StepFact, 'kind' | 'run' | 'cell'> = { step: step.number, title, status: result.status, ms: Math.round(ms), ...(transcript ? { transcript } : {}), ...(pcaps.length ? { pcaps } : {}) }
      if (result.status === 'passed') fact.summary = result.outcome.summary
      if (result.status === 'failed') {
        const hint = 'hint' in step.step ? step.step.hint : undefined
        const message = String((result.error as Error)?.message ?? result.error)
        Object.assign(fact, { reason: verdictLine(result.error), type: errorType(result.error), message: hint && !message.includes(suggestedFix(hint)) ? `${message}\n${suggestedFix(hint)}` : message })
      }
      await recordRunFact(scenario.id, cell, 'step', fact)
      const erratum = result.status === 'passed' ? result.outcome.erratum : undefined
      if (erratum) await recordRunFact(scenario.id, cell, 'errata', { doc: scenario.source.doc, section: step.section, step: step.number, ...erratum })
    }),
    'lab-down': async () => {
      await writes
      if (failure) throw failure.error
    },
  }
}
