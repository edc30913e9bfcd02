// The documents' defects, for lab authors: every erratum the scenarios record, with what the
// verbatim command did in the runs, merged over every backend's records (review/records.ts):
// an erratum is confirmed by whichever backend ran it, and one no run reached says which can.
import type { LoadedScenario } from '../scenario/loader.ts'
import { planSteps } from '../scenario/plan.ts'
import { isRunStep } from '../scenario/schema.ts'
import { defaultResultDir, readMergedRecords } from '../review/records.ts'
import { whoCanRun } from '../review/verdicts.ts'

export interface ErratumRow {
  scenario: string
  doc: string
  section: string
  step: number
  verbatim: string
  corrected: string
  why: string
  /** What the verbatim command did in a run that passed the step; absent when none did. */
  outcome?: string
  /** The backends whose runs confirmed it (`netns`, `qemu 6.1`). */
  confirmedOn?: string[]
  /** When no run confirmed it: why, and which backend can. */
  notRun?: string
}

export async function collectErrata(scenarios: LoadedScenario[], resultDirs = [defaultResultDir()]): Promise<ErratumRow[]> {
  const records = readMergedRecords(resultDirs)
  const rows: ErratumRow[] = []
  for (const s of scenarios) {
    const scenarioRecords = records.get(s.id)
    for (const planned of planSteps(s)) {
      const { number, step, section } = planned
      if (!isRunStep(step) || !step.erratum) continue
      const runs = scenarioRecords?.steps.get(number) ?? []
      const confirmed = runs.filter((r) => r.status === 'passed' && r.erratum)
      const failed = runs.filter((r) => r.status === 'failed')
      const skipped = runs.filter((r) => r.status === 'skipped' || r.status === 'running')
      rows.push({
        scenario: s.id, doc: s.source.doc, section, step: number,
        // Where the correction runs elsewhere (erratum.on), both commands say where.
        verbatim: step.erratum.on ? `[${step.on}] ${step.run}` : step.run,
        corrected: step.erratum.on ? `[${step.erratum.on}] ${step.erratum.corrected}` : step.erratum.corrected,
        why: step.erratum.why,
        ...(confirmed.length
          ? { outcome: confirmed[0]!.erratum!.outcome, confirmedOn: [...new Set(confirmed.map((r) => r.on))] }
          : {
              notRun: [
                ...failed.map((r) => `failed on ${r.on}: ${r.reason ?? 'no verdict recorded'}`),
                ...skipped.map((r) => `${r.status === 'running' ? 'interrupted' : 'skipped'} on ${r.on}${r.reason ? `: ${r.reason}` : ''}`),
                failed.length ? 'labproof run shows why' : whoCanRun(s.id, planned, scenarioRecords?.cells ?? []),
              ].join('; '),
            }),
      })
    }
  }
  return rows
}

export function formatErrataTable(rows: ErratumRow[]): string {
  if (rows.length === 0) return 'no errata recorded\n'
  return rows.map((r) => [
    `${r.doc} — ${r.section} (scenario ${r.scenario}, step ${r.step})`,
    `  verbatim:  ${r.verbatim}`,
    `  outcome:   ${r.outcome ? `${r.outcome} (confirmed on ${r.confirmedOn!.join(', ')})` : `(not run yet: ${r.notRun})`}`,
    `  corrected: ${r.corrected}`,
    `  why:       ${r.why}`,
  ].join('\n')).join('\n\n') + `\n\n${rows.length} errata in ${new Set(rows.map((r) => r.doc)).size} documents\n`
}
