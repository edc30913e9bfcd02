// Load scenario YAML files. A malformed file fails with its path, line, column and the field
// named, so an author can go straight to the mistake.
import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { isAlias, isMap, isSeq, LineCounter, parseDocument, visit, type Document } from 'yaml'
import type { z } from 'zod'
import { CHECK_KIND_NAMES, checkKind, checkTargets as checkTargetFields } from '../checks/index.ts'
import { SHIPPED_SCENARIO_DIR } from '../package-info.ts'
import { DEFAULT_HOST_NAMES, GATEWAY, INTERNET } from '../topology.ts'
import { checkStep, runStep, sectionStep, scenario as scenarioSchema, type Scenario } from './schema.ts'
import { checkScenarioSource } from './source-sync.ts'
import { formatBytes, limitHint, scenarioLimits, type ScenarioLimits } from './limits.ts'
import { cachedParse } from './parse-cache.ts'

/** The scenarios shipped with labproof, or another folder of them (LABPROOF_SCENARIO_DIR). */
export const SCENARIO_DIR = process.env.LABPROOF_SCENARIO_DIR || SHIPPED_SCENARIO_DIR

export interface LoadedScenario extends Scenario {
  /** Where it was loaded from, for messages. */
  file: string
}

export class ScenarioError extends Error {
  constructor(readonly file: string, readonly line: number, readonly column: number, readonly field: string, problem: string) {
    super(`${file}:${line}:${column}: ${field ? `${field}: ` : ''}${problem}`)
    this.name = 'ScenarioError'
  }
}

/** The scenario in `text` (read from `file`), validated; parsed once per text (parse-cache.ts). */
export function parseScenario(text: string, file: string, limits = scenarioLimits()): LoadedScenario {
  return cachedParse(`scenario ${limits.bytes} ${limits.steps} ${JSON.stringify(limits.from ?? {})}`, file, text, () => parseScenarioText(text, file, limits))
}

function parseScenarioText(text: string, file: string, limits: ScenarioLimits): LoadedScenario {
  if (Buffer.byteLength(text) > limits.bytes) throw tooBig(file, Buffer.byteLength(text), limits)
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!
    const pos = lines.linePos(e.pos[0])
    throw new ScenarioError(file, pos.line, pos.col, '', `not valid YAML: ${e.message.split('\n')[0]}`)
  }
  // Counted on the YAML tree, before the steps are expanded and validated.
  const steps = doc.get('steps', true)
  if (isSeq(steps) && steps.items.length > limits.steps) {
    const pos = lines.linePos(steps.range?.[0] ?? 0)
    throw new ScenarioError(file, pos.line, pos.col, 'steps', `${steps.items.length} steps; a scenario has at most ${limits.steps} (${limitHint('steps', limits)})`)
  }
  let data: unknown
  try {
    data = doc.toJS()
  } catch (e) {
    // yaml refuses aliases that expand without bound (a "billion laughs"): name the file and
    // the first alias.
    let at = 0
    visit(doc, { Alias: (_key, node) => (isAlias(node) && node.range ? ((at = node.range[0]), visit.BREAK) : undefined) })
    const pos = lines.linePos(at)
    throw new ScenarioError(file, pos.line, pos.col, '', `not valid YAML: ${(e as Error).message.split('\n')[0]}`)
  }
  const parsed = scenarioSchema.safeParse(data)
  if (!parsed.success) throw issueToError(file, doc, lines, data, parsed.error.issues[0]!)
  const s = parsed.data
  checkTargets(s, file, doc, lines)
  return { ...s, file }
}

function issueToError(file: string, doc: Document, lines: LineCounter, data: unknown, issue: z.core.$ZodIssue): ScenarioError {
  // A step is either a command (`run:`) or a check (`check:`): explain against the one meant.
  if (issue.code === 'invalid_union' && issue.path[0] === 'steps' && issue.path.length === 2) {
    const stepData = (data as { steps: unknown[] }).steps[issue.path[1] as number]
    if (stepData && typeof stepData === 'object' && ('run' in stepData || 'check' in stepData || 'section' in stepData)) {
      const branch = 'run' in stepData ? runStep : 'check' in stepData ? checkStep : sectionStep
      const inner = branch.safeParse(stepData)
      if (!inner.success) {
        const sub = inner.error.issues[0]!
        return issueToError(file, doc, lines, data, { ...sub, path: [...issue.path, ...sub.path] })
      }
    }
    return locate(file, doc, lines, issue.path, 'a step needs `run:` (a command of the document), `check:` (an assertion) or `section:` (a heading of the document)')
  }
  let problem = issue.message
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.at(-1) === 'check' ? ` (check kinds: ${CHECK_KIND_NAMES.join(', ')})` : ''
    problem = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}${where}`
    return locate(file, doc, lines, [...issue.path, issue.keys[0]!], problem, true)
  }
  if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) problem = `missing required field (${issue.expected})`
  // A record's key (a host's name under hosts:): say what is wrong with it, not just "invalid key".
  if (issue.code === 'invalid_key' && issue.issues[0]) problem = issue.issues[0].message
  return locate(file, doc, lines, issue.path, problem)
}

function locate(file: string, doc: Document, lines: LineCounter, fieldPath: PropertyKey[], problem: string, isKey = false): ScenarioError {
  // Walk up the path until a node with a position is found (a missing field has none).
  for (let n = fieldPath.length; n >= 0; n--) {
    const sub = fieldPath.slice(0, n) as (string | number)[]
    const node = isKey && n === fieldPath.length ? keyNode(doc, sub) : doc.getIn(sub, true)
    const range = (node as { range?: [number, number] } | undefined)?.range
    if (range) {
      const pos = lines.linePos(range[0])
      return new ScenarioError(file, pos.line, pos.col, formatPath(fieldPath), problem)
    }
  }
  return new ScenarioError(file, 1, 1, formatPath(fieldPath), problem)
}

function keyNode(doc: Document, keyPath: (string | number)[]): unknown {
  const parent = doc.getIn(keyPath.slice(0, -1), true)
  if (!isMap(parent)) return undefined
  const pair = parent.items.find((p) => (p.key as { value?: unknown })?.value === keyPath.at(-1))
  return pair?.key
}

function formatPath(p: PropertyKey[]): string {
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${String(k)}`)).join('')
}

/** Every `on:`/`from:` must name a host of the scenario's topology. */
function checkTargets(s: Scenario, file: string, doc: Document, lines: LineCounter): void {
  const known = new Set<string>([...DEFAULT_HOST_NAMES, ...Object.keys(s.hosts ?? {}), GATEWAY, INTERNET])
  for (const [i, c] of (s.capture ?? []).entries()) {
    if (!known.has(c.on.split(/[/:]/)[0]!)) throw locate(file, doc, lines, ['capture', i, 'on'], `unknown host "${c.on.split(/[/:]/)[0]}"; this scenario's hosts are ${[...known].join(', ')}`)
  }
  s.steps.forEach((step, i) => {
    const targets: [string[], string][] = []
    if ('section' in step) return
    if ('run' in step) {
      targets.push([['steps', String(i), 'on'], step.on])
      if (step.erratum?.on) targets.push([['steps', String(i), 'erratum', 'on'], step.erratum.on])
      for (const [j, c] of (step.erratum?.shows ?? []).entries()) {
        for (const t of checkTargetFields(c)) targets.push([['steps', String(i), 'erratum', 'shows', String(j), checkKind(c), t.field], t.target])
      }
    } else {
      for (const t of checkTargetFields(step.check)) targets.push([['steps', String(i), 'check', checkKind(step.check), t.field], t.target])
    }
    for (const [j, c] of (step.capture ?? []).entries()) targets.push([['steps', String(i), 'capture', String(j), 'on'], c.on.split(':')[0]!])
    for (const [j, w] of (step.wire ?? []).entries()) targets.push([['steps', String(i), 'wire', String(j), 'on'], w.on.split(':')[0]!])
    for (const [p, t] of targets) {
      const hostName = t.split('/')[0]!
      if (!known.has(hostName)) {
        const fieldPath = p.map((k) => (/^\d+$/.test(k) ? Number(k) : k))
        throw locate(file, doc, lines, fieldPath, `unknown host "${hostName}"; this scenario's hosts are ${[...known].join(', ')}`)
      }
    }
  })
}

function tooBig(file: string, size: number, limits: ScenarioLimits): ScenarioError {
  return new ScenarioError(file, 1, 1, '', `the file is ${formatBytes(size)}; a scenario file has at most ${formatBytes(limits.bytes)} (${limitHint('bytes', limits)})`)
}

export async function loadScenarioFile(file: string): Promise<LoadedScenario> {
  const shown = path.relative(process.cwd(), file) || file
  // Sized before it is read: a huge file is refused without loading it.
  const limits = scenarioLimits()
  const size = (await stat(file)).size
  if (size > limits.bytes) throw tooBig(shown, size, limits)
  const text = await readFile(file, 'utf8')
  const scenario = parseScenario(text, shown, limits)
  // Where its document is at hand, the scenario must still be in step with it.
  const source = await checkScenarioSource(file, text, scenario.source.doc)
  if (source.status === 'drift') throw source.error
  return scenario
}

/** All scenarios in `dir`, in file-name order; ids must be unique. */
export async function loadScenarios(dir = SCENARIO_DIR): Promise<LoadedScenario[]> {
  const fromEnv = process.env.LABPROOF_SCENARIO_DIR && dir === SCENARIO_DIR ? ' (LABPROOF_SCENARIO_DIR)' : ''
  const entries = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    throw new Error(`cannot read the scenario folder ${dir}${fromEnv}: ${e.code === 'ENOENT' ? 'it does not exist' : e.code === 'ENOTDIR' ? 'it is not a folder' : e.message}`)
  })
  const files = entries.filter((f) => /\.ya?ml$/.test(f)).sort()
  if (files.length === 0) throw new Error(`no scenario files (*.yaml) in ${dir}${fromEnv}`)
  const loaded = await Promise.all(files.map((f) => loadScenarioFile(path.join(dir, f))))
  const seen = new Map<string, string>()
  for (const s of loaded) {
    const other = seen.get(s.id)
    if (other) throw new Error(`scenario id "${s.id}" is used by both ${other} and ${s.file}`)
    seen.set(s.id, s.file)
  }
  return loaded
}

/** Pick scenarios by id; an unknown id is an error that lists the known ones. */
export function selectScenarios(all: LoadedScenario[], ids: string[]): LoadedScenario[] {
  if (ids.length === 0) return all
  const byId = new Map(all.map((s) => [s.id, s]))
  const unknown = ids.filter((id) => !byId.has(id))
  if (unknown.length > 0) {
    throw new Error(`no scenario with id ${unknown.map((u) => `"${u}"`).join(', ')}; known scenarios: ${[...byId.keys()].join(', ')}`)
  }
  return ids.map((id) => byId.get(id)!)
}
