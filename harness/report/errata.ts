// The documents' defects, for lab authors: every erratum the scenarios record, with what the
// last run saw when it ran the verbatim command (from reports/run/*.jsonl).
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import type { LoadedScenario } from '../scenario/loader.ts'
import { planSteps } from '../scenario/plan.ts'
import { isRunStep } from '../scenario/schema.ts'
import { outputDirs } from '../output-dirs.ts'

export interface ErratumRow {
  scenario: string
  doc: string
  section: string
  step: number
  verbatim: string
  corrected: string
  why: string
  /** What the verbatim command did in the last run; absent when it has not run. */
  outcome?: string
}

export async function collectErrata(scenarios: LoadedScenario[], runRecords = outputDirs().runRecords): Promise<ErratumRow[]> {
  const outcomes = await readOutcomes(runRecords)
  const rows: ErratumRow[] = []
  for (const s of scenarios) {
    for (const { number, step, section } of planSteps(s)) {
      if (!isRunStep(step) || !step.erratum) continue
      const outcome = outcomes.get(`${s.id}#${number}`)
      rows.push({
        scenario: s.id, doc: s.source.doc, section, step: number,
        // Where the correction runs elsewhere (erratum.on), both commands say where.
        verbatim: step.erratum.on ? `[${step.on}] ${step.run}` : step.run,
        corrected: step.erratum.on ? `[${step.erratum.on}] ${step.erratum.corrected}` : step.erratum.corrected,
        why: step.erratum.why,
        ...(outcome ? { outcome } : {}),
      })
    }
  }
  return rows
}

async function readOutcomes(dir: string): Promise<Map<string, string>> {
  const outcomes = new Map<string, string>()
  const files = await readdir(dir).catch(() => [] as string[])
  for (const f of files.filter((f) => f.endsWith('.jsonl'))) {
    for (const line of (await readFile(path.join(dir, f), 'utf8')).split('\n').filter(Boolean)) {
      const fact = JSON.parse(line) as { kind: string; step: number; outcome: string }
      if (fact.kind === 'errata') outcomes.set(`${f.replace(/\.jsonl$/, '')}#${fact.step}`, fact.outcome)
    }
  }
  return outcomes
}

export function formatErrataTable(rows: ErratumRow[]): string {
  if (rows.length === 0) return 'no errata recorded\n'
  return rows.map((r) => [
    `${r.doc} — ${r.section} (scenario ${r.scenario}, step ${r.step})`,
    `  verbatim:  ${r.verbatim}`,
    `  outcome:   ${r.outcome ?? '(not run yet: labproof run confirms it)'}`,
    `  corrected: ${r.corrected}`,
    `  why:       ${r.why}`,
  ].join('\n')).join('\n\n') + `\n\n${rows.length} errata in ${new Set(rows.map((r) => r.doc)).size} documents\n`
}
