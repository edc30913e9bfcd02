// labproof's JUnit file: written by `labproof run` as its steps settle (run/run-scenarios.ts),
// and, as a vitest reporter in vitest's main process, for scenarios bound to vitest (`npm test`).
// Both write it from the same run records, so both write the same file.
//
// Which steps exist comes from the scenario files the run was given (planned before any step
// runs: `labproof run`'s own list, or LABPROOF_SCENARIO_FILES under vitest) and, under vitest,
// from the tests it collected (each step's test carries its scenario, file, line and cell:
// step-meta.ts). What happened to each comes from the run records (run-record.ts), written
// before a step is reported settled (under vitest, by the worker before the step's test ends, so
// they are never behind what vitest's main process has heard); under vitest, where a step has no
// record, vitest's own result is used (a step that hit vitest's timeout, a lab that could not be
// provisioned). A step with neither did not run: it is skipped with "interrupted".
//
// The file is rewritten whole (temporary file, then rename) when the steps are collected, after
// each step (at most every STEP_WRITE_MS: a suite's steps end every few milliseconds, and each
// write costs the whole file), after each scenario and at the end, and once more as the process
// exits if the run did not end (Ctrl-C, SIGTERM): a run stopped any way leaves a well-formed
// file saying which steps ran.
// The cells of a matrix (`--distro a,b`: one run each, in one process) share one file.
import { readFileSync, statSync } from 'node:fs'
import { constants } from 'node:os'
import path from 'node:path'
import type { Reporter, TestCase, TestModule, TestSuite, Vitest } from 'vitest/node'
import { writeFileAtomic } from './atomic-write.ts'
import { encodedSuite, junitBytes, type EncodedSuite, type JunitCase, type JunitOutcome, type JunitSuite } from './junit.ts'
import { currentRunId, RunRecordTail, type StepFact } from './run-record.ts'
import { cellName, runOptionsFromEnv } from '../engine/run-options.ts'
import { parseScenario } from '../scenario/loader.ts'
import { planSteps } from '../scenario/plan.ts'
import { stepMeta, type StepMeta } from './step-meta.ts'
import { suggestedFix } from './verdict.ts'

export interface JunitReporterOptions {
  outputFile: string
  /** Where the run records are (reports/run/). */
  runRecords: string
  /** The matrix cell the steps run in (`netns`, `qemu kernel 6.1`); by default the one the
   *  environment names (runOptionsFromEnv), as for vitest started directly. */
  cell?: string
}

/** One run's part of the file; a matrix run has one per cell. */
interface Part {
  render(signal?: string): EncodedSuite[]
  ended: boolean
  /** Written before the run starts (writePlannedJunit); the first run takes its place. */
  placeholder?: boolean
}

/** After a step, the file is written at once, or this long after the last write when that was
 *  sooner: a run SIGKILLed leaves in it every step that ended before the last quarter second
 *  (the run records have every one). */
const STEP_WRITE_MS = 250

const STORE = Symbol.for('labproof.junit.parts')
const store = globalThis as { [STORE]?: Map<string, Part[]> }

export default class JunitReporter implements Reporter {
  private readonly modules: TestModule[] = []
  private readonly part: Part
  private readonly runId = currentRunId()
  private readonly planned: StepMeta[]

  constructor(private readonly options: JunitReporterOptions, files = scenarioFilesFromEnv()) {
    this.part = { render: (signal) => this.render(signal), ended: false }
    this.planned = plannedSteps(files, options.cell ?? cellName(runOptionsFromEnv()))
  }

  onInit(_vitest: Vitest): void {
    this.attach()
  }

  /** Joins this run's part to the file (in place of a placeholder) and writes the file. */
  attach(placeholder = false): void {
    const parts = (store[STORE] ??= new Map<string, Part[]>())
    const forFile = parts.get(this.options.outputFile)
    if (!forFile) writeOnExit(this.options.outputFile)
    this.part.placeholder = placeholder
    parts.set(this.options.outputFile, [...(forFile ?? []).filter((p) => !p.placeholder), this.part])
    this.write()
  }

  onTestModuleCollected(module: TestModule): void {
    if (!this.modules.includes(module)) this.modules.push(module)
    this.write()
  }

  /** After every step: a run killed (SIGKILL) leaves the verdicts of the steps that ended. */
  onTestCaseResult(test: TestCase): void {
    if (test.meta().labproof) this.writeSoon()
  }

  onTestSuiteResult(suite: TestSuite): void {
    if ([...suite.children.allTests()].some((t) => t.meta().labproof)) this.write()
  }

  onTestModuleEnd(): void {
    this.write()
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    for (const m of modules) if (!this.modules.includes(m)) this.modules.push(m)
    this.runEnded()
  }

  /** A step settled (`labproof run`, which has no vitest tests: its run records say it all). */
  stepEnded(): void {
    this.writeSoon()
  }

  /** The run (this cell of it) ended: the file is written, and not again on exit. */
  runEnded(): void {
    this.part.ended = true
    this.write()
  }

  private lastWrite = 0
  private writeTimer: NodeJS.Timeout | undefined

  /** Now, or STEP_WRITE_MS after the last write (once, however many steps end meanwhile). */
  private writeSoon(): void {
    if (this.writeTimer) return
    const wait = this.lastWrite + STEP_WRITE_MS - Date.now()
    if (wait <= 0) this.write()
    // Unreferenced: the run's end writes the file anyway, and so does an exit before it.
    else this.writeTimer = setTimeout(() => this.write(), wait).unref()
  }

  private write(): void {
    clearTimeout(this.writeTimer)
    this.writeTimer = undefined
    this.lastWrite = Date.now()
    writeJunit(this.options.outputFile)
  }

  private render(signal?: string): EncodedSuite[] {
    // Every step planned or collected, in plan order; a collected test joins its planned step.
    const steps = new Map<string, { meta: StepMeta; test?: TestCase }>()
    for (const meta of this.planned) steps.set(stepKey(meta), { meta })
    const others: { test: TestCase; module: TestModule }[] = []
    for (const module of this.modules) {
      for (const test of module.children.allTests()) {
        const meta = test.meta().labproof
        if (meta) steps.set(stepKey(meta), { meta, test })
        else others.push({ test, module })
      }
    }
    const suites = new Map<string, JunitSuite>()
    const suiteOf = (key: string, make: () => JunitSuite): JunitSuite => {
      const suite = suites.get(key) ?? make()
      suites.set(key, suite)
      return suite
    }
    for (const { meta, test } of steps.values()) {
      suiteOf(`scenario\0${meta.scenario}\0${meta.cell}`, () => scenarioSuite(meta, this.labProperties(meta))).cases.push(this.stepCase(test, meta, signal))
    }
    for (const { test, module } of others) {
      suiteOf(`module\0${module.moduleId}`, () => ({ name: relative(module.moduleId), file: relative(module.moduleId), cases: [] })).cases.push(genericCase(test, module, signal))
    }
    this.refreshed.clear()
    return [...suites].map(([key, suite]) => this.rendered(key, suite))
  }

  /** Each suite's XML as last rendered, with what it was made of. */
  private readonly suitesRendered = new Map<string, { suite: JunitSuite; head: string; rendered: EncodedSuite }>()

  /** The suite's XML: the last one while its cases are the very same (a finished step's case is
   *  kept: stepCase), so a write after a step renders only the suite that step is in. */
  private rendered(key: string, suite: JunitSuite): EncodedSuite {
    const head = JSON.stringify([suite.name, suite.file, suite.timestamp, suite.properties])
    const last = this.suitesRendered.get(key)
    if (last && last.head === head && last.suite.cases.length === suite.cases.length && last.suite.cases.every((c, i) => c === suite.cases[i])) return last.rendered
    const rendered = encodedSuite(suite)
    this.suitesRendered.set(key, { suite, head, rendered })
    return rendered
  }

  private stepCase(test: TestCase | undefined, meta: StepMeta, signal: string | undefined): JunitCase {
    const fact = this.stepFacts(meta).get(meta.step)
    const done = fact && fact.status !== 'running' ? fact : undefined
    // A finished step's verdict does not change: the same case (and the XML junit.ts made of it)
    // serves every later render, so a render costs the steps that changed, not the whole run.
    const kept = done && this.caseOfFact.get(done)
    if (kept) return kept
    const matrixCell = meta.cell.includes(' ') ? ` [${meta.cell}]` : ''
    const base = {
      name: `step ${meta.step}: ${meta.title}${matrixCell}`,
      classname: meta.scenario,
      file: meta.file,
      ...(meta.line ? { line: meta.line } : {}),
    }
    if (done) {
      const outcome: JunitOutcome = done.status === 'passed' ? { status: 'passed' }
        : done.status === 'skipped' ? { status: 'skipped', message: done.reason ?? 'skipped' }
        : { status: 'failed', message: done.reason ?? 'failed', type: done.type ?? 'Error', detail: done.message ?? done.reason ?? '' }
      const c: JunitCase = { ...base, timeS: (done.ms ?? 0) / 1000, outcome, ...(done.transcript ? { systemOut: done.transcript } : {}) }
      this.caseOfFact.set(done, c)
      return c
    }
    const known = test && vitestOutcome(test, meta.hint)
    if (known) return { ...base, ...known }
    // A step that has not run yet: the same case until it does (or the run is stopped).
    const message = interrupted(signal, fact?.status === 'running')
    const pendingKey = `${stepKey(meta)}\0${message}`
    let pending = this.pendingCases.get(pendingKey)
    if (!pending || pending.name !== base.name || pending.file !== base.file || pending.line !== base.line) {
      this.pendingCases.set(pendingKey, (pending = { ...base, timeS: 0, outcome: { status: 'skipped', message } }))
    }
    return pending
  }

  /** The case of each step that has not run, by step and message. */
  private readonly pendingCases = new Map<string, JunitCase>()

  /** The facts of the lab the scenario ran on in this run and cell (the backend, the kernel,
   *  which accelerator ran its VMs and why), as `lab.<name>` properties. */
  private labProperties(meta: StepMeta): Record<string, string> {
    this.stepFacts(meta) // brings the records up to date for this render
    const lab = this.records(meta.scenario).labs.filter((f) => f.run === this.runId && f.cell === meta.cell).at(-1)
    return Object.fromEntries(Object.entries(lab?.facts ?? {}).map(([name, value]) => [`lab.${name}`, value]))
  }

  /** The case made of each step's final fact. */
  private readonly caseOfFact = new WeakMap<StepFact, JunitCase>()

  /** Each scenario's run records, read as they grow: a render reads only what was appended. */
  private readonly tails = new Map<string, RunRecordTail>()

  private records(scenario: string): RunRecordTail {
    let tail = this.tails.get(scenario)
    if (!tail) this.tails.set(scenario, (tail = new RunRecordTail(path.join(this.options.runRecords, `${scenario}.jsonl`))))
    return tail
  }

  /** This run's step facts by scenario and cell (the latest per step), and how many of the
   *  scenario's records they have taken in. */
  private readonly stepsByCell = new Map<string, { from: StepFact[]; taken: number; byStep: Map<number, StepFact> }>()
  /** The scenarios whose records the render under way has brought up to date. */
  private readonly refreshed = new Set<string>()

  /** The step facts of this run for the scenario and cell, brought up to date once per render. */
  private stepFacts(meta: StepMeta): Map<number, StepFact> {
    const tail = this.records(meta.scenario)
    if (!this.refreshed.has(meta.scenario)) {
      tail.refresh()
      this.refreshed.add(meta.scenario)
    }
    const key = `${meta.scenario}\0${meta.cell}`
    let seen = this.stepsByCell.get(key)
    // Records read afresh (the file was replaced) are taken in from the start.
    if (!seen || seen.from !== tail.steps) this.stepsByCell.set(key, (seen = { from: tail.steps, taken: 0, byStep: new Map() }))
    for (; seen.taken < tail.steps.length; seen.taken++) {
      const f = tail.steps[seen.taken]!
      if (f.run === this.runId && f.cell === meta.cell) seen.byStep.set(f.step, f)
    }
    return seen.byStep
  }
}

/** Called by `labproof run` once it knows its scenario files, before the sweep of dead runs'
 *  leftovers, which can take seconds: a run stopped meanwhile leaves a file naming every step,
 *  each "interrupted: … before this step ran". */
export function writePlannedJunit(options: JunitReporterOptions, files: string[]): void {
  new JunitReporter(options, files).attach(true)
}

function scenarioSuite(meta: StepMeta, lab: Record<string, string>): JunitSuite {
  const matrixCell = meta.cell.includes(' ') ? ` [${meta.cell}]` : ''
  return {
    name: `${meta.scenario}: ${meta.scenarioTitle}${matrixCell}`,
    file: meta.file,
    properties: { scenario: meta.scenario, cell: meta.cell, 'source document': meta.sourceDoc, ...lab },
    cases: [],
  }
}

function genericCase(test: TestCase, module: TestModule, signal: string | undefined): JunitCase {
  return {
    name: test.fullName,
    classname: relative(module.moduleId),
    file: relative(module.moduleId),
    ...(test.location ? { line: test.location.line } : {}),
    ...(vitestOutcome(test) ?? { timeS: 0, outcome: { status: 'skipped', message: interrupted(signal, false) } }),
  }
}

/** What vitest itself knows of a test: its result, if it finished. */
function vitestOutcome(test: TestCase, hint?: string): { timeS: number; outcome: JunitOutcome } | undefined {
  const r = test.result()
  const timeS = (test.diagnostic()?.duration ?? 0) / 1000
  if (r.state === 'passed') return { timeS, outcome: { status: 'passed' } }
  if (r.state === 'skipped') return { timeS, outcome: { status: 'skipped', message: r.note ?? (test.options.mode === 'todo' ? 'todo' : 'skipped') } }
  if (r.state === 'failed') {
    const e = r.errors[0]
    const message = e?.message ?? 'failed'
    const detail = [message, e?.stack?.split('\n').filter((l) => /^\s+at /.test(l)).join('\n'), hint && !message.includes(suggestedFix(hint)) ? suggestedFix(hint) : ''].filter(Boolean).join('\n')
    return { timeS, outcome: { status: 'failed', message: message.split('\n').find((l) => l.trim()) ?? message, type: e?.name ?? 'Error', detail } }
  }
  return undefined
}

function interrupted(signal: string | undefined, running: boolean): string {
  return `interrupted: the run was stopped${signal ? ` (${signal})` : ''} ${running ? 'while this step ran' : 'before this step ran'}`
}

function stepKey(meta: StepMeta): string {
  return `${meta.scenario}\0${meta.cell}\0${meta.step}`
}

function scenarioFilesFromEnv(): string[] {
  try {
    return process.env.LABPROOF_SCENARIO_FILES ? (JSON.parse(process.env.LABPROOF_SCENARIO_FILES) as string[]) : []
  } catch {
    return []
  }
}

/** The steps of the scenario files the run was given, before any of them runs: a run stopped
 *  before a step ran still names it. */
function plannedSteps(files: string[], cell: string): StepMeta[] {
  try {
    // `labproof run` plans the same files twice (writePlannedJunit, then the run's reporter).
    const key = JSON.stringify([cell, process.cwd(), files.map((f) => { const { mtimeMs, size } = statSync(f); return [f, mtimeMs, size] })])
    if (lastPlanned?.key === key) return lastPlanned.steps
    const steps = files.flatMap((file) => {
      const s = parseScenario(readFileSync(file, 'utf8'), relative(file))
      return planSteps(s).map((p) => stepMeta(s, p, cell))
    })
    lastPlanned = { key, steps }
    return steps
  } catch {
    // a file the run will refuse with its own error (vitest: the tests it collects are what there is)
    return []
  }
}

/** The steps plannedSteps() found last, for the same cell, directory and files. */
let lastPlanned: { key: string; steps: StepMeta[] } | undefined

function relative(file: string): string {
  return path.relative(process.cwd(), file) || file
}

function writeJunit(file: string, signal?: string): void {
  const parts = store[STORE]?.get(file) ?? []
  writeFileAtomic(file, junitBytes(parts.flatMap((p) => p.render(signal))))
}

/** When the process exits before a run ended (a signal, a second Ctrl-C), the file is written
 *  once more, naming the signal; synchronously, as an 'exit' handler must. */
function writeOnExit(file: string): void {
  process.on('exit', (code) => {
    const parts = store[STORE]?.get(file) ?? []
    const signal = code > 128 ? Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0] : undefined
    if (!signal && parts.every((p) => p.ended)) return
    try {
      writeJunit(file, signal)
    } catch (e) {
      process.stderr.write(`labproof: could not write ${file}: ${(e as Error).message}\n`)
    }
  })
}
