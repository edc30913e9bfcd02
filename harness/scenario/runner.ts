// Bind a scenario to vitest: the scenario is a describe, each step a test, in document order.
// A failed step blocks the rest of its scenario (reported skipped, "blocked by step N"); a step
// needing a kernel feature or tool a host lacks is skipped with that reason.
import { afterAll, beforeAll, describe, test, type TestContext } from 'vitest'
import { attachStep, labelStep, recordErratum, recordHostFacts, recordStepResult } from '../report/allure.ts'
import { buildTopology } from '../topology.ts'
import { jobsFromEnv } from './jobs.ts'
import type { LoadedScenario } from './loader.ts'
import { mergeRequirements, stepRequirements } from './requirements.ts'
import { stepTitle } from './run-step.ts'
import { isSectionStep, type CheckStep, type Requirements, type RunStep } from './schema.ts'
import { ScenarioSession } from './session.ts'

const PROVISION_TIMEOUT_MS = 600_000

export interface RunOptions {
  backend: string
  distro?: string
  kernel?: string
  /** Scenarios provisioned and run at once, each on its own lab. */
  jobs: number
}

export function runOptionsFromEnv(env = process.env): RunOptions {
  const backend = env.LABPROOF_BACKEND || 'netns'
  return {
    backend,
    jobs: jobsFromEnv(env),
    ...(env.LABPROOF_DISTRO ? { distro: env.LABPROOF_DISTRO } : {}),
    ...(env.LABPROOF_KERNEL ? { kernel: env.LABPROOF_KERNEL } : {}),
  }
}

/** The matrix cell a run is: `netns`, `docker bookworm`, `qemu kernel 6.1`. */
export function cellName(o: Pick<RunOptions, 'backend' | 'distro' | 'kernel'>): string {
  return [o.backend, o.distro, o.kernel && `kernel ${o.kernel}`].filter(Boolean).join(' ')
}

export function topologyOf(s: LoadedScenario) {
  return buildTopology({
    interface: s.underlay?.interface,
    gateway: s.underlay?.gateway,
    hosts: Object.fromEntries(Object.entries(s.hosts ?? {}).map(([name, h]) => [name, { underlay: h.underlay, hostname: h.hostname }])),
  })
}

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
  for (const [index, step] of s.steps.entries()) {
    if (isSectionStep(step)) {
      section = step.section
      sectionRequires = step.requires
      continue
    }
    const scenarioCaptures = s.capture?.length ? { tools: ['tcpdump' as const] } : undefined
    plan.push({ number: index + 1, step, section, requires: mergeRequirements(s.requires, sectionRequires, stepRequirements(step), scenarioCaptures) })
  }
  return plan
}

export function bindScenario(s: LoadedScenario, opts: RunOptions): void {
  const session = new ScenarioSession(s, opts)
  // Scenarios run side by side on separate labs; the steps of one scenario run in order.
  const suite = opts.jobs > 1 ? describe.concurrent : describe
  suite(`${s.id}: ${s.title}`, () => {
    beforeAll(() => session.start(), PROVISION_TIMEOUT_MS)
    afterAll(() => session.stop(), 60_000)

    for (const planned of planSteps(s)) {
      test.sequential(`step ${planned.number}: ${stepTitle(planned.step)}`, async (t: TestContext) => {
        await labelStep(s, planned.section, planned.number, opts)
        const result = await session.runStep(planned)
        for (const caps of session.newlyProbed) await recordHostFacts(s.id, cellName(opts), caps)
        await recordStepResult(s.id, cellName(opts), planned.number, result)
        if (result.status === 'skipped') t.skip(result.reason)
        await attachStep(result.ctx)
        if (result.status === 'failed') throw result.error
        if (result.outcome.erratum) await recordErratum(s, planned.section, planned.number, result.outcome.erratum)
      }, session.stepBudgetMs(planned.step))
    }
  })
}
