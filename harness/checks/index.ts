// Check kinds by name. Each returns a one-line summary of what it saw, or throws CheckFailure.
import type { Check, CheckKind } from '../scenario/schema.ts'
import type { StepContext } from '../scenario/step-context.ts'
import type { Requirements } from '../scenario/schema.ts'
import { runBridgeCheck } from './bridge.ts'
import { runIptablesCheck } from './iptables.ts'
import { runLinkCheck } from './link.ts'
import { runNatCheck } from './nat.ts'
import { runPingCheck } from './ping.ts'
import { runRouteCheck } from './route.ts'
import { runSysctlCheck } from './sysctl.ts'

type Runner = (c: never, ctx: StepContext) => Promise<string>

const RUNNERS: Record<CheckKind, Runner> = {
  ping: runPingCheck,
  route: runRouteCheck,
  link: runLinkCheck,
  bridge: runBridgeCheck,
  sysctl: runSysctlCheck,
  iptables: runIptablesCheck,
  nat: runNatCheck,
}

/** The tools each kind runs, so a host lacking them skips the check instead of failing it. */
export const CHECK_TOOLS: Record<CheckKind, Requirements['tools']> = {
  ping: ['ping'],
  route: ['ip'],
  link: ['ip'],
  bridge: ['bridge'],
  sysctl: ['sysctl'],
  iptables: ['iptables'],
  nat: ['ping'],
}

export function checkKind(c: Check): CheckKind {
  return Object.keys(c)[0] as CheckKind
}

export function checkBody(c: Check): Record<string, unknown> {
  return Object.values(c)[0] as Record<string, unknown>
}

export function runCheck(c: Check, ctx: StepContext): Promise<string> {
  const kind = checkKind(c)
  return RUNNERS[kind](checkBody(c) as never, ctx)
}

/** A short title: `ping 10.10.20.2 from host01/ns1 (ttl 63)`. */
export function describeCheck(c: Check): string {
  const kind = checkKind(c)
  const b = checkBody(c) as Record<string, string | number | boolean | undefined>
  switch (kind) {
    case 'ping': return `ping ${b.to} from ${b.from}${b.reachable === false ? ' fails' : ''}${b.ttl !== undefined ? ` (ttl ${b.ttl})` : ''}`
    case 'route': return `${b.present === false ? 'no ' : ''}route ${b.dst}${b.via ? ` via ${b.via}` : ''}${b.dev ? ` dev ${b.dev}` : ''} on ${b.on}`
    case 'link': return `link ${b.name} on ${b.on}${b.exists === false ? ' absent' : ''}`
    case 'bridge': return `bridge ${b.name} ports on ${b.on}`
    case 'sysctl': return `${b.key} = ${b.value} on ${b.on}`
    case 'iptables': return `iptables ${b.table} ${b.chain} ${b.present === false ? 'lacks' : 'has'} "${b.rule}" on ${b.on}`
    case 'nat': return `${b.to} from ${b.from} ${b.masqueraded ? 'masqueraded' : 'not masqueraded'}`
  }
}
