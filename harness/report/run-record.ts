// Facts a run learns that outlive the vitest workers (confirmed errata, host capabilities),
// appended as JSON lines under reports/run/, one file per scenario, read by `labproof errata`.
import { appendFile, mkdir } from 'node:fs/promises'
import path from 'node:path'
import { outputDirs } from '../output-dirs.ts'

export const RUN_RECORD_DIR = outputDirs().runRecords

export async function recordRunFact(scenarioId: string, kind: string, fact: object): Promise<void> {
  await mkdir(RUN_RECORD_DIR, { recursive: true })
  await appendFile(path.join(RUN_RECORD_DIR, `${scenarioId}.jsonl`), `${JSON.stringify({ kind, at: new Date().toISOString(), ...fact })}\n`)
}
