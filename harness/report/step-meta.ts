// What a step's vitest test carries for the reports written in the vitest main process (JUnit):
// which scenario, file, line, step and matrix cell it is, and the scenario's hint. Set when the
// test is defined, so a step that never ran (an interrupted run) is still reported by name.
import { readFileSync } from 'node:fs'
import { isSeq, LineCounter, parseDocument } from 'yaml'
import type { LoadedScenario } from '../scenario/loader.ts'
import { cachedParse } from '../scenario/parse-cache.ts'
import type { PlannedStep } from '../scenario/plan.ts'
import { stepTitle } from '../scenario/run-step.ts'

export interface StepMeta {
  scenario: string
  scenarioTitle: string
  /** The matrix cell: `netns`, `docker bookworm`, `qemu kernel 6.1`. */
  cell: string
  step: number
  title: string
  section: string
  sourceDoc: string
  /** The scenario file, as the loader named it (relative to the current directory). */
  file: string
  /** The step's line in the scenario file. */
  line?: number
  /** What to do when the check fails (the scenario's `hint:`). */
  hint?: string
}

declare module 'vitest' {
  interface TaskMeta {
    labproof?: StepMeta
  }
}

export function stepMeta(s: LoadedScenario, planned: PlannedStep, cell: string): StepMeta {
  const line = stepLines(s.file)[planned.number - 1]
  const hint = 'hint' in planned.step ? planned.step.hint : undefined
  return {
    scenario: s.id,
    scenarioTitle: s.title,
    cell,
    step: planned.number,
    title: stepTitle(planned.step),
    section: planned.section,
    sourceDoc: s.source.doc,
    file: s.file,
    ...(line ? { line } : {}),
    ...(hint ? { hint } : {}),
  }
}

const linesByFile = new Map<string, number[]>()

/** The line each entry of `steps:` starts on (1-based); empty when the file cannot be read. */
export function stepLines(file: string): number[] {
  let lines = linesByFile.get(file)
  if (!lines) {
    try {
      const text = readFileSync(file, 'utf8')
      lines = cachedParse('step lines', file, text, () => linesOfSteps(text))
    } catch {
      // a scenario given as text, not a file: no lines to point at
      lines = []
    }
    linesByFile.set(file, lines)
  }
  return lines
}

function linesOfSteps(text: string): number[] {
  const lines: number[] = []
  const counter = new LineCounter()
  const doc = parseDocument(text, { lineCounter: counter })
  const steps = doc.get('steps', true)
  if (isSeq(steps)) for (const item of steps.items) lines.push((item as { range?: [number] }).range ? counter.linePos((item as { range: [number] }).range[0]).line : 0)
  return lines
}
