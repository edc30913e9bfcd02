// Which steps may run while an earlier "no reply" claim waits for its verdict. A claim that no
// reply comes holds nothing still but the answer it waits for: a later step may run meanwhile
// only when it cannot change that answer and its own result cannot depend on the claim's packets
// still being on their way. The rule is deliberately narrow; every other step waits for every
// pending verdict first:
//   - a check that only reads configuration (kind.ts, readsConfigOnly): links, routes, rules,
//     sysctls, bridge ports, MTU;
//   - a document command that only reads configuration (below), with no capture, wire claim or
//     correction;
//   - another "no reply" claim to a different address, with no capture or wire claim of its own
//     beyond its ping's (which filters on its own address), while no pending claim has one.
// A scenario with captures of its own (`capture:` at its top) never runs ahead: every step's
// capture window would hold the pending claim's packets.
import { checkBody, checkKind, kindOf } from '../checks/index.ts'
import { boundCommand } from '../scenario/bounded.ts'
import { isRunStep, type CheckStep, type RunStep } from '../scenario/schema.ts'

export interface NoReplyClaim {
  /** The address that must not answer. */
  to: string
  /** The claim carries captures or wire claims of its own (beyond a ping check's own capture). */
  captures: boolean
}

/** The step claims that pings get no reply, and so may let the scenario go on before its
 *  verdict: a document ping expected unreachable (no correction, no variants), or a ping check
 *  with `reachable: false`. */
export function noReplyClaim(step: RunStep | CheckStep): NoReplyClaim | undefined {
  const captures = (step.capture?.length ?? 0) + (step.wire?.length ?? 0) > 0
  if (isRunStep(step)) {
    if (step.erratum || step.expect?.variants || step.expect?.reachable !== false || !boundCommand(step.run).isPing) return undefined
    const to = /(\d{1,3}(?:\.\d{1,3}){3})\s*$/.exec(step.run)?.[1]
    return to ? { to, captures } : undefined
  }
  if (checkKind(step.check) !== 'ping') return undefined
  const body = checkBody(step.check) as { to: string; reachable?: boolean }
  return body.reachable === false ? { to: body.to, captures } : undefined
}

/** Whether `step` may run while the claims `pending` wait for their verdicts. */
export function mayRunAhead(step: RunStep | CheckStep, pending: NoReplyClaim[], scenarioCaptures: number): boolean {
  if (pending.length === 0) return true
  if (scenarioCaptures > 0) return false
  const claim = noReplyClaim(step)
  if (claim) return !claim.captures && pending.every((p) => !p.captures && p.to !== claim.to)
  if ((step.capture?.length ?? 0) + (step.wire?.length ?? 0) > 0) return false
  if (!isRunStep(step)) return kindOf(step.check).readsConfigOnly === true
  return !step.erratum && readsConfigOnly(step.run)
}

/** `ip netns exec NAME` before a command: the command decides. */
const NETNS_PREFIX = /^ip\s+netns\s+exec\s+[\w.-]+\s+/

/** Document commands that only read configuration: `ip addr`, `ip link`, `ip route`, `ip rule`,
 *  `ip netns` (show/list), `route -n`, `iptables -S`/`-L -n` without counters, `bridge link`,
 *  `brctl show`, `sysctl KEY`, `cat` of /proc/sys. One simple command each: no pipe, list,
 *  redirection or substitution. Neighbours, statistics, counters, FDBs and captures are traffic's
 *  doing and are not here. */
export function readsConfigOnly(command: string): boolean {
  let c = command.trim()
  if (/[;&|<>`$()\\'"\n]/.test(c)) return false
  while (NETNS_PREFIX.test(c)) c = c.replace(NETNS_PREFIX, '')
  const words = c.split(/\s+/)
  const [program, ...args] = words
  switch (program) {
    case 'ip': return readsIpConfig(args)
    case 'route': return args.every((a) => a === '-n')
    case 'iptables': return readsRules(args)
    case 'bridge': return ['link', 'l'].includes(args[0] ?? '') && (args.length === 1 || (SHOW_VERBS.has(args[1]!) && args.slice(2).every((a) => /^[\w.-]+$/.test(a))))
    case 'brctl': return args[0] === 'show'
    case 'sysctl': return args.length >= 1 && args.every((a) => a === '-n' || /^[\w.]+$/.test(a))
    case 'cat': return args.length >= 1 && args.every((a) => /^\/proc\/sys\/[\w./-]+$/.test(a))
    default: return false
  }
}

const IP_OPTIONS = new Set(['-4', '-6', '-br', '-brief', '-c', '-color', '-o', '-oneline', '-j', '-json', '-p', '-pretty', '-d', '-details'])
const IP_OBJECTS = new Set(['a', 'addr', 'address', 'l', 'link', 'r', 'ro', 'route', 'ru', 'rule', 'netns'])
const SHOW_VERBS = new Set(['show', 'list', 'ls', 'lst', 'sh'])

function readsIpConfig(args: string[]): boolean {
  let i = 0
  while (i < args.length && IP_OPTIONS.has(args[i]!)) i++
  const object = args[i]
  if (!object || !IP_OBJECTS.has(object)) return false
  const rest = args.slice(i + 1)
  if (rest.length === 0) return true
  // `ip netns` lists, `ip netns identify`/`pids` read; anything else (add, exec, del) does not.
  if (object === 'netns') return rest.length === 1 && SHOW_VERBS.has(rest[0]!)
  return SHOW_VERBS.has(rest[0]!) && rest.slice(1).every((a) => /^[\w./:-]+$/.test(a))
}

function readsRules(args: string[]): boolean {
  let listing = false
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '-t') { i++; continue }
    if (a === '-S' || a === '-L' || a === '--list' || a === '--list-rules') listing = true
    else if (a === '-n' || a === '--numeric' || a === '--line-numbers' || a === '-nL' || a === '-Ln') listing ||= a !== '-n' && a !== '--numeric' && a !== '--line-numbers'
    else if (!/^[A-Za-z][\w-]*$/.test(a)) return false
  }
  return listing
}
