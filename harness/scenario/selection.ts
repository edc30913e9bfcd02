// Which scenarios a command works on: `labproof run|list|errata [FILE|DIR|ID]...` and
// `grade --scenario FILE|ID`. An argument naming an existing file or folder is read as one
// (a folder: its *.yaml and *.yml files, in name order); anything else is a scenario id, looked
// up in the default scenarios. With no argument, the default scenarios: LABPROOF_SCENARIO_DIR,
// else the configuration's `scenarios`, else ./scenarios of the current directory when there is
// one, else the examples labproof ships.
import { existsSync, statSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import type { LabproofConfig } from '../config.ts'
import { SHIPPED_SCENARIO_DIR } from '../package-info.ts'
import { loadScenarioFile, loadScenarios, type LoadedScenario } from './loader.ts'

/** A mistake in naming scenarios on the command line (exit code 2). */
export class SelectionError extends Error {}

export interface DefaultScenarios {
  /** Files and folders, absolute. */
  paths: string[]
  /** Where that choice came from, for messages. */
  origin: string
}

export function defaultScenarios(config: LabproofConfig = {}, cwd = process.cwd(), env = process.env): DefaultScenarios {
  if (env.LABPROOF_SCENARIO_DIR) return { paths: [path.resolve(cwd, env.LABPROOF_SCENARIO_DIR)], origin: 'LABPROOF_SCENARIO_DIR' }
  if (config.scenarios) return { paths: config.scenarios, origin: `"scenarios" in ${path.relative(cwd, config.file ?? '') || config.file}` }
  const local = path.join(cwd, 'scenarios')
  if (isDirectory(local)) return { paths: [local], origin: './scenarios' }
  return { paths: [SHIPPED_SCENARIO_DIR], origin: 'the examples labproof ships' }
}

export interface SelectOptions {
  config?: LabproofConfig
  cwd?: string
  /** Look ids up past default scenario files that do not load (grading one lab while another
   *  is mid-edit); those files are named only when the id is not found. */
  tolerant?: boolean
}

/** The scenarios `refs` name, in the order given, each once; all defaults when `refs` is empty. */
export async function resolveScenarios(refs: string[], o: SelectOptions = {}): Promise<LoadedScenario[]> {
  const cwd = o.cwd ?? process.cwd()
  const defaults = defaultScenarios(o.config, cwd)
  const chosen: LoadedScenario[] = []
  if (refs.length === 0) {
    for (const p of defaults.paths) chosen.push(...(await loadPath(p, defaults.origin)))
    return unique(chosen)
  }
  let pool: Promise<{ loaded: LoadedScenario[]; broken: string[] }> | undefined
  for (const ref of refs) {
    const file = path.resolve(cwd, ref)
    if (existsSync(file)) {
      chosen.push(...(await loadPath(file, 'the command line')))
      continue
    }
    if (looksLikePath(ref)) throw new SelectionError(`${ref}: no such scenario file or folder`)
    pool ??= loadPool(defaults, o.tolerant ?? false)
    const { loaded, broken } = await pool
    const found = loaded.filter((s) => s.id === ref)
    if (found.length === 1) { chosen.push(found[0]!); continue }
    if (found.length > 1) throw new Error(`scenario id "${ref}" is used by ${found.map((s) => s.file).join(' and ')}`)
    throw new SelectionError(`no scenario with id "${ref}"; known scenarios: ${loaded.map((s) => s.id).join(', ') || `none (${defaults.origin})`}`
      + (broken.length ? `\nscenario files that could not be read:\n${broken.map((b) => `  ${b}`).join('\n')}` : ''))
  }
  return unique(chosen)
}

/** The one scenario `ref` names (a file or an id), for `grade --scenario`. */
export async function resolveOneScenario(ref: string, o: SelectOptions = {}): Promise<LoadedScenario> {
  const [scenario, ...more] = await resolveScenarios([ref], { tolerant: true, ...o })
  if (!scenario || more.length) throw new SelectionError(`${ref} holds ${more.length + (scenario ? 1 : 0)} scenarios: name one file or id`)
  return scenario
}

async function loadPath(p: string, origin: string): Promise<LoadedScenario[]> {
  if (isDirectory(p)) return loadScenarios(p)
  if (!existsSync(p)) throw new Error(`cannot read the scenario folder ${p} (${origin}): it does not exist`)
  return [await loadScenarioFile(p)]
}

async function loadPool(defaults: DefaultScenarios, tolerant: boolean): Promise<{ loaded: LoadedScenario[]; broken: string[] }> {
  if (!tolerant) {
    const loaded: LoadedScenario[] = []
    for (const p of defaults.paths) loaded.push(...(await loadPath(p, defaults.origin)))
    return { loaded, broken: [] }
  }
  const files: string[] = []
  for (const p of defaults.paths) {
    if (!isDirectory(p)) { files.push(p); continue }
    files.push(...(await readdir(p)).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join(p, f)))
  }
  const results = await Promise.allSettled(files.map((f) => loadScenarioFile(f)))
  return {
    loaded: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    broken: results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message.split('\n')[0]!] : [])),
  }
}

/** Each file once (a file named twice, or inside a folder also named); one id per file. */
function unique(scenarios: LoadedScenario[]): LoadedScenario[] {
  const byFile = new Map<string, LoadedScenario>()
  for (const s of scenarios) byFile.set(path.resolve(s.file), s)
  const byId = new Map<string, string>()
  for (const s of byFile.values()) {
    const other = byId.get(s.id)
    if (other) throw new Error(`scenario id "${s.id}" is used by both ${other} and ${s.file}`)
    byId.set(s.id, s.file)
  }
  return [...byFile.values()]
}

function looksLikePath(ref: string): boolean {
  return ref.includes('/') || ref.includes(path.sep) || /\.ya?ml$/.test(ref) || ref.startsWith('.')
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}
