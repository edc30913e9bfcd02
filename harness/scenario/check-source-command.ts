// `labproof check-source [--docs DIR]... [FILE|ID...]`: every scenario against its document, the
// steps that drifted named with their lines; exit 1 on drift. The scenarios are read here, not
// through loadScenarios, which would stop at the first drifted one.
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { parseScenario, SCENARIO_DIR } from './loader.ts'
import { checkScenarioSource, docFolders } from './source-sync.ts'

export async function checkSourceCommand(args: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { docs: { type: 'string', multiple: true } } })
  const folders = [...(values.docs ?? []).map((d) => path.resolve(d)), ...docFolders()]
  const files = await scenarioFiles(positionals)
  let drifted = 0
  let checked = 0
  for (const file of files) {
    const text = await readFile(file, 'utf8')
    const scenario = parseScenario(text, path.relative(process.cwd(), file) || file)
    const result = await checkScenarioSource(file, text, scenario.source.doc, folders)
    if (result.status === 'in-step') {
      checked++
      out.write(`in step  ${scenario.id}: ${result.steps} commands of ${path.basename(result.documentFile)} in its order, ${result.added} added\n`)
    } else if (result.status === 'drift') {
      checked++
      drifted++
      out.write(`DRIFT    ${scenario.id}: ${result.error.message}\n`)
    } else {
      out.write(`skipped  ${scenario.id}: no document at hand: ${result.reason}\n`)
    }
  }
  out.write(`${checked} of ${files.length} scenarios checked against their documents, ${drifted} drifted\n`)
  return drifted ? 1 : 0
}

/** Scenario files named on the command line (paths, or ids of the shipped scenarios), or all. */
async function scenarioFiles(named: string[]): Promise<string[]> {
  const shipped = (await readdir(SCENARIO_DIR)).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join(SCENARIO_DIR, f))
  if (named.length === 0) return shipped
  const byId = new Map<string, string>()
  for (const file of shipped) byId.set(parseScenario(await readFile(file, 'utf8'), file).id, file)
  return named.map((n) => {
    if (/\.ya?ml$/.test(n)) return path.resolve(n)
    const file = byId.get(n)
    if (!file) throw new Error(`no scenario with id "${n}"; known scenarios: ${[...byId.keys()].join(', ')}`)
    return file
  })
}
