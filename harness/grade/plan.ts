// Which of a scenario's checks can be graded on one student's machine, from the state as found.
// Left out, with the reason, and not counted in the score ("needs setup"):
//  - checks on another host of the lab (host02, the gateway, the internet host);
//  - checks their kind says a machine as found cannot show (harness/checks/<kind>.ts,
//    grading.notGradable): nat checks need the lab's simulated internet host; pings to another
//    node's address or to the simulated internet (from a real machine that would be the real
//    internet);
//  - checks of an intermediate state: a later check of the same thing (same link, route,
//    bridge, sysctl, rule, ping: the kind's grading.subject) says what it must be once the lab
//    is finished.
import { checkBody, checkKind, checkTargets, describeCheck, kindOf } from '../checks/index.ts'
import type { GradingMachine } from '../checks/kind.ts'
import type { LoadedScenario } from '../scenario/loader.ts'
import { isRunStep, isSectionStep, type CheckStep } from '../scenario/schema.ts'
import { GATEWAY, INTERNET, stripPrefix, type Topology } from '../topology.ts'

export interface PlannedCheck {
  /** Step number in the scenario (1-based, as the runner numbers them). */
  step: number
  kind: string
  title: string
  /** `host01/ns1`: where the check looks. */
  target: string
  points: number
  hint?: string
  check: CheckStep
  /** Tools the check runs on the machine. */
  tools: string[]
  /** Set when the check cannot be graded from the machine's state as found. */
  needsSetup?: string
}

/** What a check is about: two checks with one subject describe the same thing at two times. */
export function checkSubject(step: CheckStep): string {
  return JSON.stringify([checkKind(step.check), ...kindOf(step.check).grading.subject(checkBody(step.check))])
}

export function planGrading(s: LoadedScenario, topology: Topology, role: string): PlannedCheck[] {
  const numbered = s.steps.map((step, i) => ({ step, number: i + 1 }))
    .filter((x): x is { step: CheckStep; number: number } => !isSectionStep(x.step) && !isRunStep(x.step))
  const lastOfSubject = new Map<string, number>()
  for (const { step, number } of numbered) lastOfSubject.set(checkSubject(step), number)

  const otherNodes = new Map<string, string>()
  for (const h of topology.hosts) if (h.name !== role) otherNodes.set(stripPrefix(h.underlayAddress), h.name)
  otherNodes.set(topology.underlay.gateway, GATEWAY)
  for (const a of topology.internet.addresses) otherNodes.set(a, INTERNET)

  const machine: GradingMachine = { role, otherNodes, internet: INTERNET }
  return numbered.map(({ step, number }) => {
    const kind = checkKind(step.check)
    const target = checkTargets(step.check)[0]!.target
    const planned: PlannedCheck = {
      step: number,
      kind,
      title: step.name ?? describeCheck(step.check),
      target,
      points: step.points ?? 1,
      ...(step.hint ? { hint: step.hint } : {}),
      check: step,
      tools: [...kindOf(step.check).grading.tools],
    }
    const reason = whyNotGradable(step, number, target, machine, lastOfSubject)
    return reason ? { ...planned, needsSetup: reason } : planned
  })
}

function whyNotGradable(
  step: CheckStep, number: number, target: string, machine: GradingMachine, lastOfSubject: Map<string, number>,
): string | undefined {
  const host = target.split('/')[0]!
  if (host !== machine.role) return `runs on ${host}, a machine this grading does not control (the student's machine plays ${machine.role})`
  const kindSays = kindOf(step.check).grading.notGradable?.(checkBody(step.check), machine)
  if (kindSays) return kindSays
  const final = lastOfSubject.get(checkSubject(step))!
  if (final !== number) {
    return `describes the lab midway: step ${final} checks the same thing as it must be once the lab is finished, and a finished lab is graded on its final state`
  }
  return undefined
}

/** The most a student can score: the points of the checks that are graded. */
export function maxScore(plan: PlannedCheck[]): number {
  return plan.filter((p) => !p.needsSetup).reduce((sum, p) => sum + p.points, 0)
}
