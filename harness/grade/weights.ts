// What each graded thing is worth, and which section of the lab it belongs to. A scenario's
// check is worth its `points` (default 1) and belongs to its section; an end-state item is worth
// 1 and belongs to the section whose step builds it (the first command naming it), so by default
// a section weighs what it builds. A grading file beside the scenario
// (scenarios/<file>.grading.yaml) lets a teacher change that:
//
//   sections:                 # a section's total, spread over its checks and items by weight
//     "step4:namespace实现可以和外网通讯": 6
//   points:                   # a check by step number, or end-state items by id (* wildcard)
//     "step 29": 3
//     "route host01/ns* default": 2
//   exclude:                  # end-state items not graded (names a student may choose)
//     - "link host01 vbridge"
//   endstate: false           # grade the scenario's checks only
import { readFile } from 'node:fs/promises'
import { LineCounter, parseDocument } from 'yaml'
import { z } from 'zod'
import type { Anchor } from '../endstate/compare.ts'
import type { LoadedScenario } from '../scenario/loader.ts'
import { planSteps } from '../scenario/plan.ts'

const gradingFileSchema = z.strictObject({
  sections: z.record(z.string(), z.number().min(0)).optional(),
  points: z.record(z.string(), z.number().min(0)).optional(),
  exclude: z.array(z.string()).optional(),
  endstate: z.boolean().optional(),
})
export type GradingFile = z.infer<typeof gradingFileSchema>

export class GradingFileError extends Error {}

export function gradingFileOf(scenarioFile: string): string {
  return scenarioFile.replace(/\.ya?ml$/, '') + '.grading.yaml'
}

/** The grading file beside the scenario, {} when there is none. Mistakes name file:line. */
export async function loadGradingFile(s: LoadedScenario): Promise<GradingFile> {
  const file = gradingFileOf(s.file)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw e
  }
  return parseGradingFile(text, file, s)
}

export function parseGradingFile(text: string, file: string, s: LoadedScenario): GradingFile {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false })
  const at = (path: (string | number)[]) => {
    for (let n = path.length; n >= 0; n--) {
      const range = (doc.getIn(path.slice(0, n), true) as { range?: [number, number] } | undefined)?.range
      if (range) return lines.linePos(range[0]).line
    }
    return 1
  }
  if (doc.errors.length) throw new GradingFileError(`${file}:${lines.linePos(doc.errors[0]!.pos[0]).line}: not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`)
  const parsed = gradingFileSchema.safeParse(doc.toJS() ?? {})
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path
    const why = issue.code === 'unrecognized_keys' ? `unknown field "${issue.keys[0]}"; the fields are sections, points, exclude, endstate` : issue.message
    throw new GradingFileError(`${file}:${at(path as (string | number)[])}: ${path.join('.') || '(top)'}: ${why}`)
  }
  const g = parsed.data
  const sections = new Set(planSteps(s).map((p) => p.section))
  for (const name of Object.keys(g.sections ?? {})) {
    if (!sections.has(name)) throw new GradingFileError(`${file}:${at(['sections', name])}: no section "${name}" in ${s.file}; its sections are: ${[...sections].join(', ')}`)
  }
  const checkSteps = new Set(planSteps(s).filter((p) => 'check' in p.step).map((p) => p.number))
  for (const key of Object.keys(g.points ?? {})) {
    const step = /^step (\d+)$/.exec(key)
    if (step && !checkSteps.has(Number(step[1]))) throw new GradingFileError(`${file}:${at(['points', key])}: step ${step[1]} of ${s.file} is not a check; its checks are steps ${[...checkSteps].join(', ')}`)
  }
  return g
}

/** `route host01/ns* default` matches `route host01/ns1 default`. */
export function idMatches(pattern: string, id: string): boolean {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(id)
}

const word = (w: string) => new RegExp(`(?<![\\w.-])${w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`)

/** The first command of the scenario that builds what the anchor names, and its section; the
 *  last section when no command names it. */
export function buildingStep(s: LoadedScenario, anchor: Anchor): { step: number; section: string } {
  const plan = planSteps(s)
  const runs = plan.flatMap((p) => ('run' in p.step ? [{ p, text: `${p.step.on} ${p.step.erratum?.corrected ?? p.step.run}` }] : []))
  const [first, ...rest] = anchor.words
  const alternatives = anchor.setting ? anchor.words.map((w) => [w]) : [[first!, ...rest]]
  const found = runs.find(({ text }) => alternatives.some((words) => words.every((w) => word(w).test(text))) && (!anchor.setting || /=|-w\b|>/.test(text)))
  const last = plan.at(-1)!
  return found ? { step: found.p.number, section: found.p.section } : { step: last.number, section: last.section }
}

export interface Weighted {
  section: string
  points: number
  earned: number
  status: 'passed' | 'failed' | 'needs-setup'
}

export interface SectionScore {
  section: string
  score: number
  max: number
}

const round = (n: number) => Math.round(n * 100) / 100

/** The whole of the sections' scores or maxima, to the hundredth. */
export function sectionTotal(sections: SectionScore[], of: 'score' | 'max'): number {
  return round(sections.reduce((sum, x) => sum + x[of], 0))
}

/** Scales each section to the grading file's total for it; sections in scenario order. */
export function scoreSections<T extends Weighted>(entries: T[], s: LoadedScenario, g: GradingFile): { entries: T[]; sections: SectionScore[] } {
  const order = [...new Set(planSteps(s).map((p) => p.section))]
  const sections: SectionScore[] = []
  const scaled = entries.map((e) => ({ ...e }))
  for (const section of order) {
    const graded = scaled.filter((e) => e.section === section && e.status !== 'needs-setup')
    const weight = graded.reduce((sum, e) => sum + e.points, 0)
    const total = g.sections?.[section]
    if (total !== undefined && weight > 0) {
      for (const e of graded) {
        const factor = total / weight
        e.earned = round(e.earned * factor)
        e.points = round(e.points * factor)
      }
    }
    if (!graded.length) continue
    sections.push({ section, score: round(graded.reduce((sum, e) => sum + e.earned, 0)), max: round(graded.reduce((sum, e) => sum + e.points, 0)) })
  }
  return { entries: scaled, sections }
}
