// A scenario as a plan: each step with the section it belongs to and everything it needs, and
// the lab topology it asks for. Pure: no lab, no test runner, no report; `labproof list`,
// `errata`, grading and the bench plan with it, and the engine (harness/engine/) runs it.
import { buildTopology, type Topology } from '../topology.ts'
import type { LoadedScenario } from './loader.ts'
import { mergeRequirements, stepRequirements } from './requirements.ts'
import { isSectionStep, type CheckStep, type Requirements, type RunStep } from './schema.ts'

export interface PlannedStep {
  /** 1-based position in the scenario file's steps, section headings included. */
  number: number
  step: RunStep | CheckStep
  section: string
  requires: Requirements
}

/** Each step with the section it belongs to and everything it needs. */
export function planSteps(s: LoadedScenario): PlannedStep[] {
  let section = s.source.section
  let sectionRequires: Requirements | undefined
  const plan: PlannedStep[] = []
  // The scenario's own captures run during every step.
  const scenarioCaptures = s.capture?.length ? { tools: ['tcpdump' as const] } : undefined
  for (const [index, step] of s.steps.entries()) {
    if (isSectionStep(step)) {
      section = step.section
      sectionRequires = step.requires
      continue
    }
    plan.push({ number: index + 1, step, section, requires: mergeRequirements(s.requires, sectionRequires, stepRequirements(step), scenarioCaptures) })
  }
  return plan
}

/** The lab the scenario runs on: the default picture with its hosts and underlay settings. */
export function topologyOf(s: LoadedScenario): Topology {
  return buildTopology({
    interface: s.underlay?.interface,
    gateway: s.underlay?.gateway,
    hosts: Object.fromEntries(Object.entries(s.hosts ?? {}).map(([name, h]) => [name, { underlay: h.underlay, hostname: h.hostname }])),
  })
}
