// `labproof errata [FILE|DIR|ID]... [--json]`: the documents' defects the scenarios record.
import type { LabproofConfig } from '../config.ts'
import { collectErrata, formatErrataTable } from '../report/errata.ts'
import { resolveScenarios } from '../scenario/selection.ts'
import { parseCommand } from './usage.ts'

export const ERRATA_HELP = `usage: labproof errata [FILE|DIR|ID]... [--json]

Prints every erratum the scenarios record (default: all the default scenarios, as for run): the
document's verbatim command, what it did in the runs and on which backend (the latest run of each
backend, merged, from reports/by-backend/ under the output folder), the correction and why. One
that no run confirmed says why and which backend can run it. labproof review shows the errata
with the documents' claims.

  --json    the same as a JSON list
`

export async function errataCommand(args: string[], config: LabproofConfig): Promise<number> {
  const { values, positionals } = parseCommand(args, { json: { type: 'boolean', default: false } }, true)
  const rows = await collectErrata(await resolveScenarios(positionals, { config }))
  process.stdout.write(values.json ? `${JSON.stringify(rows, null, 2)}\n` : formatErrataTable(rows))
  return 0
}
