// A machine's network state as labproof compares it: namespaces, links (kind, up or down,
// master, IPv4 addresses, veth peer), routes per namespace, bridge ports with their STP state,
// sysctls and iptables chains. Built from what the probe read (probe.ts); indexes, MAC
// addresses, counters and timers are left out: they differ on every machine.
import type { ExecResult } from '../host.ts'
import { namespaceNames, type RawEndState } from './probe.ts'

/** '' is the root namespace. */
export interface LinkState {
  ns: string
  name: string
  /** veth, bridge, tun, vxlan, …; `ether` for a physical NIC, `loopback` for lo. */
  type: string
  up: boolean
  master?: string
  /** IPv4, with prefix: `192.168.28.1/24`. */
  addresses: string[]
  /** A veth's other end. */
  peer?: { ns: string; name: string }
}

export interface RouteState {
  ns: string
  /** `default` or a CIDR. */
  dst: string
  via?: string
  dev?: string
  metric?: number
  proto?: string
  scope?: string
}

export interface PortState {
  ns: string
  bridge: string
  port: string
  /** forwarding, disabled, blocking, listening, learning. */
  state: string
}

export interface ChainState {
  table: string
  chain: string
  /** Built-in chains only. */
  policy?: string
  /** As `iptables -S` prints them: `-A POSTROUTING -s 192.168.28.0/24 -j MASQUERADE`. */
  rules: string[]
}

export interface MachineState {
  namespaces: string[]
  links: LinkState[]
  routes: RouteState[]
  ports: PortState[]
  /** null: the key does not exist on the machine (a module not loaded). */
  sysctls: Record<string, string | null>
  iptables: ChainState[]
  /** Why a part could not be read (`ns1 routes`, `iptables nat`), for hints. */
  unreadable: Record<string, string>
}

interface IpAddrEntry {
  ifindex: number
  ifname: string
  flags?: string[]
  link?: string
  link_index?: number
  link_netnsid?: number
  link_type?: string
  master?: string
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_slave_data?: { state?: string } }
  addr_info?: { family: string; local: string; prefixlen: number }[]
}

interface IpRouteEntry {
  dst: string
  gateway?: string
  dev?: string
  protocol?: string
  scope?: string
  metric?: number
}

const failure = (r: ExecResult) => `\`${r.command}\` exited ${r.exitCode}: ${(r.stderr || r.stdout).trim().split('\n')[0]}`

function json<T>(r: ExecResult): T[] {
  return r.stdout.trim() ? (JSON.parse(r.stdout) as T[]) : []
}

export function machineState(raw: RawEndState): MachineState {
  const state: MachineState = { namespaces: namespaceNames(raw.namespaces), links: [], routes: [], ports: [], sysctls: {}, iptables: [], unreadable: {} }
  const entries = new Map<string, IpAddrEntry[]>()
  for (const [ns, probe] of Object.entries(raw.perNamespace)) {
    const where = ns || 'the host'
    if (probe.addr.exitCode === 0) entries.set(ns, json<IpAddrEntry>(probe.addr))
    else state.unreadable[`${where} links`] = failure(probe.addr)
    if (probe.routes.exitCode === 0) {
      for (const r of json<IpRouteEntry>(probe.routes)) {
        state.routes.push({
          ns, dst: r.dst,
          ...(r.gateway ? { via: r.gateway } : {}), ...(r.dev ? { dev: r.dev } : {}),
          ...(r.metric !== undefined ? { metric: r.metric } : {}), ...(r.protocol ? { proto: r.protocol } : {}), ...(r.scope ? { scope: r.scope } : {}),
        })
      }
    } else state.unreadable[`${where} routes`] = failure(probe.routes)
  }
  for (const [ns, list] of entries) {
    for (const e of list) {
      // A bridge's port: its state as the bridge keeps it (`bridge link` reads the same).
      if (e.master && e.linkinfo?.info_slave_kind === 'bridge') state.ports.push({ ns, bridge: e.master, port: e.ifname, state: e.linkinfo.info_slave_data?.state ?? 'unknown' })
      state.links.push({
        ns,
        name: e.ifname,
        type: e.linkinfo?.info_kind ?? e.link_type ?? 'ether',
        up: (e.flags ?? []).includes('UP'),
        ...(e.master ? { master: e.master } : {}),
        addresses: (e.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
        ...peerOf(ns, e, entries),
      })
    }
  }
  for (const [key, r] of Object.entries(raw.sysctls)) state.sysctls[key] = r.exitCode === 0 ? r.stdout.trim() : null
  for (const [table, r] of Object.entries(raw.iptables)) {
    if (r.exitCode !== 0) {
      state.unreadable[`iptables ${table}`] = failure(r)
      continue
    }
    const chains = new Map<string, ChainState>()
    const chainOf = (chain: string) => {
      if (!chains.has(chain)) chains.set(chain, { table, chain, rules: [] })
      return chains.get(chain)!
    }
    for (const line of r.stdout.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const [op, chain, policy] = line.split(/\s+/)
      if (!chain) continue
      if (op === '-P') chainOf(chain).policy = policy
      else if (op === '-N') chainOf(chain)
      else if (op === '-A') chainOf(chain).rules.push(line)
    }
    state.iptables.push(...chains.values())
  }
  return state
}

/** A veth's peer: in the same namespace `link` names it; across namespaces it is the link
 *  whose ifindex is this one's link_index and whose link_index is this one's ifindex. */
function peerOf(ns: string, e: IpAddrEntry, all: Map<string, IpAddrEntry[]>): { peer?: { ns: string; name: string } } {
  if (e.linkinfo?.info_kind !== 'veth') return {}
  if (e.link && e.link_netnsid === undefined && !e.link.startsWith('if')) return { peer: { ns, name: e.link } }
  if (e.link_index === undefined) return {}
  const found: { ns: string; name: string }[] = []
  for (const [otherNs, list] of all) {
    if (otherNs === ns && e.link_netnsid !== undefined) continue
    for (const o of list) {
      if (o.ifindex === e.link_index && o.link_index === e.ifindex && o.linkinfo?.info_kind === 'veth') found.push({ ns: otherNs, name: o.ifname })
    }
  }
  return found.length === 1 ? { peer: found[0]! } : {}
}

export function nsLabel(role: string, ns: string): string {
  return ns ? `${role}/${ns}` : role
}
