// Facts a run learns that outlive the vitest workers (step verdicts, confirmed errata, host
// capabilities), appended as JSON lines under reports/run/, one file per scenario. The matrix
// (report/matrix.ts) and `labproof errata` (report/errata.ts) read them; runRecordSubscriber()
// writes them from the engine's events.
import { appendFile, mkdir } from 'node:fs/promises'
import path from 'node:path'
import type { Subscriber } from '../engine/events.ts'
import { outputDirs } from '../output-dirs.ts'

export const RUN_RECORD_DIR = outputDirs().runRecords

export async function recordRunFact(scenarioId: string, kind: string, fact: object): Promise<void> {
  await mkdir(RUN_RECORD_DIR, { recursive: true })
  await appendFile(path.join(RUN_RECORD_DIR, `${scenarioId}.jsonl`), `${JSON.stringify({ kind, at: new Date().toISOString(), ...fact })}\n`)
}

export function runRecordSubscriber(): Subscriber {
  return {
    'host-probed': ({ scenario, cell, capabilities: caps }) => {
      const missing = Object.entries(caps.features).filter(([, v]) => v !== true).map(([k]) => k)
      const missingTools = Object.entries(caps.tools).filter(([, v]) => !v).map(([k]) => k)
      return recordRunFact(scenario.id, 'host', { cell, host: caps.host, kernelRelease: caps.kernelRelease, distro: caps.distro, versions: caps.versions, missing, missingTools })
    },
    'step-skipped': ({ scenario, cell, step, reason }) => recordRunFact(scenario.id, 'step', { cell, step: step.number, status: 'skipped', reason }),
    'step-result': async ({ scenario, cell, step, result }) => {
      const reason = result.status === 'failed' ? String((result.error as Error)?.message ?? result.error).split('\n')[0] : undefined
      await recordRunFact(scenario.id, 'step', { cell, step: step.number, status: result.status, ...(reason ? { reason } : {}) })
      const erratum = result.status === 'passed' ? result.outcome.erratum : undefined
      if (erratum) await recordRunFact(scenario.id, 'errata', { doc: scenario.source.doc, section: step.section, step: step.number, ...erratum })
    },
  }
}
