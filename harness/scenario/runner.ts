// Bind a scenario to vitest: the scenario is a describe, each step a test, in document order.
// A failed step blocks the rest of its scenario (reported skipped, "blocked by step N"); a step
// needing a kernel feature or tool a host lacks is skipped with that reason.
import { afterAll, beforeAll, describe, test, type TestContext } from 'vitest'
import { backendByName } from '../backends/index.ts'
import type { Capabilities } from '../host.ts'
import type { Lab } from '../lab.ts'
import { attachStep, labelStep, recordErratum, recordHostFacts } from '../report/allure.ts'
import { buildTopology } from '../topology.ts'
import type { LoadedScenario } from './loader.ts'
import { missingRequirements, mergeRequirements, stepHosts, stepRequirements } from './requirements.ts'
import { runStep, stepTitle } from './run-step.ts'
import { isSectionStep, type CheckStep, type Requirements, type RunStep } from './schema.ts'
import { StepContext } from './step-context.ts'

export const DEFAULT_STEP_TIMEOUT_MS = 30_000
const PROVISION_TIMEOUT_MS = 600_000

export interface RunOptions {
  backend: string
  distro?: string
  kernel?: string
  /** Scenarios provisioned and run at once, each on its own lab. */
  jobs: number
}

/** Namespaces are cheap; VMs under TCG on two cores are not. */
const DEFAULT_JOBS: Record<string, number> = { netns: 4, docker: 2, qemu: 1, vagrant: 1 }

export function runOptionsFromEnv(env = process.env): RunOptions {
  const backend = env.LABPROOF_BACKEND || 'netns'
  return {
    backend,
    jobs: Number(env.LABPROOF_JOBS) || DEFAULT_JOBS[backend] || 1,
    ...(env.LABPROOF_DISTRO ? { distro: env.LABPROOF_DISTRO } : {}),
    ...(env.LABPROOF_KERNEL ? { kernel: env.LABPROOF_KERNEL } : {}),
  }
}

export function topologyOf(s: LoadedScenario) {
  return buildTopology({
    interface: s.underlay?.interface,
    gateway: s.underlay?.gateway,
    hosts: Object.fromEntries(Object.entries(s.hosts ?? {}).map(([name, h]) => [name, { underlay: h.underlay, hostname: h.hostname }])),
  })
}

/** Each step with the section it belongs to and everything it needs. */
export function planSteps(s: LoadedScenario) {
  let section = s.source.section
  let sectionRequires: Requirements | undefined
  const plan: { number: number; step: RunStep | CheckStep; section: string; requires: Requirements }[] = []
  for (const [index, step] of s.steps.entries()) {
    if (isSectionStep(step)) {
      section = step.section
      sectionRequires = step.requires
      continue
    }
    plan.push({ number: index + 1, step, section, requires: mergeRequirements(s.requires, sectionRequires, stepRequirements(step)) })
  }
  return plan
}

export function bindScenario(s: LoadedScenario, opts: RunOptions): void {
  const stepTimeout = s.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS
  // Scenarios run side by side on separate labs; the steps of one scenario run in order.
  const suite = opts.jobs > 1 ? describe.concurrent : describe
  suite(`${s.id}: ${s.title}`, () => {
    let lab: Lab | undefined
    let blockedBy: number | undefined
    const caps = new Map<string, Capabilities>()

    beforeAll(async () => {
      const backend = await backendByName(opts.backend)
      lab = await backend.provision(topologyOf(s), { distro: opts.distro, kernel: opts.kernel })
    }, PROVISION_TIMEOUT_MS)

    afterAll(async () => {
      await lab?.destroy()
    }, 60_000)

    for (const { number, step, section, requires } of planSteps(s)) {
      test.sequential(`step ${number}: ${stepTitle(step)}`, async (t: TestContext) => {
        await labelStep(s, section, number, opts)
        if (blockedBy !== undefined) t.skip(`blocked by step ${blockedBy}`)
        if (!lab) t.skip('the lab was not provisioned')
        const hosts = stepHosts(step).length ? stepHosts(step) : lab.topology.hosts.map((h) => h.name)
        for (const h of hosts) {
          if (!caps.has(h)) {
            caps.set(h, await lab.host(h).capabilities())
            await recordHostFacts(caps.get(h)!)
          }
        }
        const missing = missingRequirements(requires, hosts.map((h) => caps.get(h)!))
        if (missing) t.skip(missing)
        const ctx = new StepContext(lab, stepTimeout)
        try {
          const outcome = await runStep(step, ctx, s.capture)
          if (outcome.erratum) await recordErratum(s, section, number, outcome.erratum)
        } catch (e) {
          blockedBy = number
          throw e
        } finally {
          await attachStep(ctx)
        }
      }, stepTimeout * 3 + 10_000)
    }
  })
}
