// Which of a scenario's checks can be graded on one student's machine, from the state as found.
// Left out, with the reason, and not counted in the score ("needs setup"):
//  - checks on another host of the lab (host02, the gateway, the internet host);
//  - nat checks, which need the lab's simulated internet host;
//  - pings to another node's address or to the simulated internet (from a real machine that
//    would be the real internet);
//  - checks of an intermediate state: a later check of the same thing (same link, route,
//    bridge, sysctl, rule, ping) says what it must be once the lab is finished.
import { checkBody, checkKind, describeCheck, CHECK_TOOLS } from '../checks/index.ts'
import type { LoadedScenario } from '../scenario/loader.ts'
import { isRunStep, isSectionStep, type CheckKind, type CheckStep } from '../scenario/schema.ts'
import { GATEWAY, INTERNET, stripPrefix, type Topology } from '../topology.ts'

export interface PlannedCheck {
  /** Step number in the scenario (1-based, as the runner numbers them). */
  step: number
  kind: CheckKind
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
  const kind = checkKind(step.check)
  const b = checkBody(step.check) as Record<string, unknown>
  const parts: Record<CheckKind, unknown[]> = {
    ping: [b.from, b.to, b.interface],
    route: [b.on, b.dst],
    link: [b.on, b.name],
    bridge: [b.on, b.name],
    sysctl: [b.on, b.key],
    iptables: [b.on, b.table, b.chain, b.rule],
    nat: [b.from, b.to],
  }
  return JSON.stringify([kind, ...parts[kind]])
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

  return numbered.map(({ step, number }) => {
    const kind = checkKind(step.check)
    const body = checkBody(step.check) as Record<string, unknown>
    const target = String(body.on ?? body.from)
    const planned: PlannedCheck = {
      step: number,
      kind,
      title: step.name ?? describeCheck(step.check),
      target,
      points: step.points ?? 1,
      ...(step.hint ? { hint: step.hint } : {}),
      check: step,
      tools: [...CHECK_TOOLS[kind]],
    }
    const reason = whyNotGradable(step, number, kind, body, target, role, otherNodes, lastOfSubject)
    return reason ? { ...planned, needsSetup: reason } : planned
  })
}

function whyNotGradable(
  step: CheckStep, number: number, kind: CheckKind, body: Record<string, unknown>, target: string, role: string,
  otherNodes: Map<string, string>, lastOfSubject: Map<string, number>,
): string | undefined {
  const host = target.split('/')[0]!
  if (host !== role) return `runs on ${host}, a machine this grading does not control (the student's machine plays ${role})`
  if (kind === 'nat') {
    return `needs the lab's simulated internet host (${String(body.to)}) behind a gateway that has no route back to private subnets; ` +
      'a student\'s machine has neither, so this check is proven only by `labproof run`'
  }
  if (kind === 'ping') {
    const node = otherNodes.get(String(body.to))
    if (node === INTERNET) return `pings ${String(body.to)}, the lab's simulated internet host; from a real machine that would be the real internet`
    if (node) return `pings ${String(body.to)}, the address of ${node}, a machine this grading does not control`
  }
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
