// A repository's labproof settings: labproof.config.json, labproof.config.yaml (or .yml), or a
// "labproof" field in package.json, in the current directory. Paths in it are relative to the
// file. What the command line says wins, then the environment, then this file, then defaults.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { isMap, LineCounter, parseDocument } from 'yaml'
import { z } from 'zod'
import { backendNames } from './backends/index.ts'
import type { ConfiguredLimit } from './scenario/limits.ts'

export const CONFIG_FILES = ['labproof.config.json', 'labproof.config.yaml', 'labproof.config.yml'] as const

const configSchema = z.strictObject({
  /** Scenario folders or files: what `labproof run` runs when given no argument, and where ids are looked up. */
  scenarios: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  /** Where reports/, allure-results/ and allure-report/ go. */
  output: z.string().min(1).optional(),
  /** Checked against the backend registry when read (a backend registered later counts). */
  backend: z.string().refine((name) => backendNames().includes(name), { error: () => `unknown backend; the backends are ${backendNames().join(', ')}` }).optional(),
  /** Scenarios run at once, each on its own lab. */
  jobs: z.number().int().positive().optional(),
  /** Folders holding the scenarios' documents (`labproof check-source`). */
  docs: z.array(z.string().min(1)).optional(),
  /** The largest scenario file accepted, in bytes (default 1 MiB). */
  maxScenarioBytes: z.number().int().positive().optional(),
  /** The most steps a scenario may have (default 2000). */
  maxSteps: z.number().int().positive().optional(),
})

export interface LabproofConfig {
  /** The file it came from (`package.json` for the field); absent when there is none. */
  file?: string
  /** Absolute paths. */
  scenarios?: string[]
  output?: string
  backend?: string
  jobs?: number
  docs?: string[]
  /** Scenario size limits it raises or lowers, each with where it was set (file:line). */
  limits?: { bytes?: ConfiguredLimit; steps?: ConfiguredLimit }
}

export class ConfigError extends Error {}

export function loadConfig(cwd = process.cwd()): LabproofConfig {
  const found = CONFIG_FILES.map((f) => path.join(cwd, f)).filter((f) => existsSync(f))
  const pkgFile = path.join(cwd, 'package.json')
  const pkgField = existsSync(pkgFile) && hasLabproofField(pkgFile)
  if (pkgField) found.push(pkgFile)
  if (found.length === 0) return {}
  if (found.length > 1) throw new ConfigError(`labproof's settings are in ${found.map((f) => path.relative(cwd, f)).join(' and ')}: keep one`)
  const file = found[0]!
  const fieldPath = file === pkgFile ? ['labproof'] : []
  const lines = new LineCounter()
  const doc = parseDocument(readFileSync(file, 'utf8'), { lineCounter: lines, prettyErrors: false })
  const shown = path.relative(cwd, file)
  if (doc.errors.length > 0) {
    const pos = lines.linePos(doc.errors[0]!.pos[0])
    throw new ConfigError(`${shown}:${pos.line}:${pos.col}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${doc.errors[0]!.message.split('\n')[0]}`)
  }
  const data: unknown = fieldPath.length ? (doc.toJS() as Record<string, unknown>).labproof : doc.toJS()
  const parsed = configSchema.safeParse(data ?? {})
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const where = [...fieldPath, ...issue.path] as (string | number)[]
    const field = issue.code === 'unrecognized_keys' ? [...where, issue.keys[0]!] : where
    const parent = doc.getIn(where, true)
    // An unknown setting is shown at its key; a wrong value at the value.
    const node = (issue.code === 'unrecognized_keys' && isMap(parent)
      ? parent.items.find((p) => (p.key as { value?: unknown } | null)?.value === issue.keys[0])?.key
      : parent) as { range?: [number, number] } | undefined
    const pos = node?.range ? lines.linePos(node.range[0]) : { line: 1, col: 1 }
    const problem = issue.code === 'unrecognized_keys'
      ? `unknown setting "${issue.keys[0]}" (the settings are ${Object.keys(configSchema.shape).join(', ')})`
      : issue.message
    throw new ConfigError(`${shown}:${pos.line}:${pos.col}: ${field.join('.') || 'labproof'}: ${problem}`)
  }
  const c = parsed.data
  const lineOf = (key: string) => {
    const node = doc.getIn([...fieldPath, key], true) as { range?: [number, number] } | undefined
    return `${shown}:${node?.range ? lines.linePos(node.range[0]).line : 1}`
  }
  const dir = path.dirname(file)
  const resolve = (p: string) => path.resolve(dir, p)
  return {
    file,
    ...(c.scenarios ? { scenarios: (Array.isArray(c.scenarios) ? c.scenarios : [c.scenarios]).map(resolve) } : {}),
    ...(c.output ? { output: resolve(c.output) } : {}),
    ...(c.backend ? { backend: c.backend } : {}),
    ...(c.jobs ? { jobs: c.jobs } : {}),
    ...(c.docs ? { docs: c.docs.map(resolve) } : {}),
    ...(c.maxScenarioBytes || c.maxSteps ? {
      limits: {
        ...(c.maxScenarioBytes ? { bytes: { value: c.maxScenarioBytes, at: lineOf('maxScenarioBytes') } } : {}),
        ...(c.maxSteps ? { steps: { value: c.maxSteps, at: lineOf('maxSteps') } } : {}),
      },
    } : {}),
  }
}

function hasLabproofField(pkgFile: string): boolean {
  try {
    return (JSON.parse(readFileSync(pkgFile, 'utf8')) as { labproof?: unknown }).labproof !== undefined
  } catch {
    return false // a package.json that is not JSON is npm's concern
  }
}
