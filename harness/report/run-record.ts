// Facts a run learns that outlive the vitest workers (step verdicts with their transcripts,
// confirmed errata, host capabilities), as JSON lines under reports/run/, one file per scenario.
// The JUnit file (report/junit-reporter.ts), the matrix (report/matrix.ts) and `labproof errata`
// (report/errata.ts) read them; runRecordSubscriber() writes them from the engine's events.
// Each fact rewrites its file whole (temporary file, then rename): a killed run leaves complete
// lines. Every fact names its run (LABPROOF_RUN_ID, set by the JUnit reporter before vitest
// starts its workers), so a reader can tell this run's facts from an earlier run's.
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { Subscriber } from '../engine/events.ts'
import type { Capabilities } from '../host.ts'
import { outputDirs } from '../output-dirs.ts'
import { writeFileAtomic } from './atomic-write.ts'
import { skippedTranscript, transcriptText } from './transcript.ts'
import { errorType, suggestedFix, verdictLine } from './verdict.ts'

export const RUN_RECORD_DIR = outputDirs().runRecords

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
  /** A failure's whole message, with the scenario's hint as the suggested fix. */
  message?: string
  type?: string
  transcript?: string
  ms?: number
}

const writing = new Map<string, Promise<void>>()

export async function recordRunFact(scenarioId: string, kind: string, fact: object): Promise<void> {
  const file = path.join(RUN_RECORD_DIR, `${scenarioId}.jsonl`)
  const line = `${JSON.stringify({ kind, run: currentRunId(), at: new Date().toISOString(), ...fact })}\n`
  // One write at a time per file in this process: each adds its line to what the last one left.
  const done = (writing.get(file) ?? Promise.resolve()).then(async () => {
    const before = await readFile(file, 'utf8').catch(() => '')
    writeFileAtomic(file, before + line)
  })
  writing.set(file, done.catch(() => {}))
  await done
}

/** The step facts recorded for a scenario (every run and cell); unreadable lines are left out. */
export function readStepFacts(dir: string, scenarioId: string): StepFact[] {
  let text = ''
  try {
    text = readFileSync(path.join(dir, `${scenarioId}.jsonl`), 'utf8')
  } catch {
    return []
  }
  const facts: StepFact[] = []
  for (const line of text.split('\n')) {
    if (!line) continue
    try {
      const f = JSON.parse(line) as StepFact | (Omit<StepFact, 'kind' | 'status'> & { kind: 'step-started' })
      if (f.kind === 'step') facts.push(f)
      if (f.kind === 'step-started') facts.push({ ...f, kind: 'step', status: 'running' })
    } catch {
      // not a fact
    }
  }
  return facts
}

export function runRecordSubscriber(): Subscriber {
  const probed: Capabilities[] = []
  return {
    'host-probed': ({ scenario, cell, capabilities: caps }) => {
      probed.push(caps)
      const missing = Object.entries(caps.features).filter(([, v]) => v !== true).map(([k]) => k)
      const missingTools = Object.entries(caps.tools).filter(([, v]) => !v).map(([k]) => k)
      return recordRunFact(scenario.id, 'host', { cell, host: caps.host, kernelRelease: caps.kernelRelease, distro: caps.distro, versions: caps.versions, missing, missingTools })
    },
    // Which step a stopped run was in the middle of.
    'step-started': ({ scenario, cell, step }) => recordRunFact(scenario.id, 'step-started', { cell, step: step.number }),
    'step-skipped': ({ scenario, cell, step, title, reason }) =>
      recordRunFact(scenario.id, 'step', { cell, step: step.number, status: 'skipped', reason, transcript: skippedTranscript(step, title, reason, probed), ms: 0 }),
    'step-result': async ({ scenario, cell, step, result, ms }) => {
      const transcript = transcriptText(result.record)
      const fact: Omit<StepFact, 'kind' | 'run'> = { cell, step: step.number, status: result.status, ms: Math.round(ms), ...(transcript ? { transcript } : {}) }
      if (result.status === 'failed') {
        const hint = 'hint' in step.step ? step.step.hint : undefined
        const message = String((result.error as Error)?.message ?? result.error)
        Object.assign(fact, { reason: verdictLine(result.error), type: errorType(result.error), message: hint && !message.includes(suggestedFix(hint)) ? `${message}\n${suggestedFix(hint)}` : message })
      }
      await recordRunFact(scenario.id, 'step', fact)
      const erratum = result.status === 'passed' ? result.outcome.erratum : undefined
      if (erratum) await recordRunFact(scenario.id, 'errata', { doc: scenario.source.doc, section: step.section, step: step.number, ...erratum })
    },
  }
}
