// `labproof list [FILE|DIR|ID]...`: each scenario with its source, step count and requirements.
// The command line answers from the listing's index when nothing changed (list-index.ts); this
// is the full run, which also fills the index. Its loader, planner and schema are imported here,
// when the listing is made, so that an answer from the index loads none of them.
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import type { LabproofConfig } from '../config.ts'
import { rememberListing } from './list-index.ts'
import { parseCommand } from './usage.ts'

export const LIST_HELP = `usage: labproof list [FILE|DIR|ID]...

Prints each scenario (default: all the default scenarios, as for run) with its title, source
document and section, file, number of steps, and the kernel features and tools it needs.
`

export async function listCommand(args: string[], config: LabproofConfig): Promise<number> {
  const { positionals } = parseCommand(args, {}, true)
  const [{ planSteps }, { defaultScenarios, resolveScenarios }] = await Promise.all([import('../scenario/plan.ts'), import('../scenario/selection.ts')])
  const scenarios = await resolveScenarios(positionals, { config })
  let output = ''
  for (const s of scenarios) {
    const steps = planSteps(s)
    const kernel = [...new Set(steps.flatMap((p) => p.requires.kernel))]
    const tools = [...new Set(steps.flatMap((p) => p.requires.tools))]
    output += [
      `${s.id}`,
      `  ${s.title}`,
      `  source:   ${s.source.doc}, section ${s.source.section}`,
      `  file:     ${s.file}`,
      `  steps:    ${steps.length}`,
      `  kernel:   ${kernel.join(', ') || '-'}`,
      `  tools:    ${tools.join(', ') || '-'}`,
      '',
    ].join('\n') + '\n'
  }
  process.stdout.write(output)
  // Ids are looked up among the default scenarios, which are then all read.
  const cwd = process.cwd()
  const byId = positionals.length === 0 || positionals.some((ref) => !isPath(path.resolve(cwd, ref)))
  const pool = byId ? await resolveScenarios([], { config }) : []
  rememberListing(output, await listingFiles(cwd, positionals, byId ? defaultScenarios(config, cwd).paths : [], [...pool, ...scenarios]))
  return 0
}

/** Every file and folder the listing was made from (list-index.ts): the settings files of the
 *  current directory, ./scenarios, the arguments, the default scenario folders and their files,
 *  and every place each scenario's document is looked for. */
async function listingFiles(cwd: string, refs: string[], defaults: string[], scenarios: { file: string; source: { doc: string } }[]): Promise<string[]> {
  const [{ CONFIG_FILES }, { docFolders, sourceDocCandidates }] = await Promise.all([import('../config.ts'), import('../scenario/source-sync.ts')])
  const files = [...CONFIG_FILES, 'package.json', 'scenarios'].map((f) => path.join(cwd, f))
  for (const p of [...refs.map((ref) => path.resolve(cwd, ref)), ...defaults]) {
    files.push(p)
    if (isDirectory(p)) files.push(...readdirSync(p).map((f) => path.join(p, f)))
  }
  const folders = docFolders(cwd)
  for (const s of scenarios) {
    const file = path.resolve(cwd, s.file)
    files.push(file, ...sourceDocCandidates(file, s.source.doc, folders))
  }
  return files
}

function isPath(p: string): boolean {
  return statSync(p, { throwIfNoEntry: false }) !== undefined
}

function isDirectory(p: string): boolean {
  return statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false
}
