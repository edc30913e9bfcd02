// `labproof errata [FILE|DIR|ID]... [--json]`: the documents' defects the scenarios record.
import type { LabproofConfig } from '../config.ts'
import { collectErrata, formatErrataTable } from '../report/errata.ts'
import { resolveScenarios } from '../scenario/selection.ts'
import { parseCommand } from './usage.ts'

export const ERRATA_HELP = `usage: labproof errata [FILE|DIR|ID]... [--json]

Prints every erratum the scenarios record (default: all the default scenarios, as for run): the
document's verbatim command, what it did in the last run (from reports/run/ under the output
folder), the correction and why.

  --json    the same as a JSON list
`

export async function errataCommand(args: string[], config: LabproofConfig): Promise<number> {
  const { values, positionals } = parseCommand(args, { json: { type: 'boolean', default: false } }, true)
  const rows = await collectErrata(await resolveScenarios(positionals, { config }))
  process.stdout.write(values.json ? `${JSON.stringify(rows, null, 2)}\n` : formatErrataTable(rows))
  return 0
}
