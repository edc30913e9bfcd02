// A student's machine against the lab's reference end state, item by item: each namespace, link,
// address, bridge port, route, sysctl and iptables rule of the reference is one item, passed or
// failed, and a failed one says what differs and what to do, derived from the difference.
// Items inside a namespace depend on that namespace reaching the host the way the lab connects
// it (its veth, the veth's other end, the bridge that end is a port of): a namespace cut off
// loses all of them, each saying why. Rules are judged by what they do to the lab's own flows.
import type { Topology } from '../topology.ts'
import { labFlows, onMachine, uplinkOf } from './flows.ts'
import {
  describeVerdict, evaluateChain, normalRule, parseListing, parseRule, sameVerdict,
  type Chains, type Flow, type Verdict,
} from './iptables-rule.ts'
import { nsLabel, type LinkState, type MachineState } from './model.ts'
import { formatRoute, normalDestination, sameRoute } from './route.ts'

export type ItemKind = 'namespace' | 'link' | 'address' | 'port' | 'route' | 'sysctl' | 'rule' | 'forwarding'

/** Words that find the scenario step that builds the item (see sections.ts). */
export interface Anchor {
  words: string[]
  /** The step must set something (`=`, `-w`, `>`), not only read it. */
  setting?: boolean
}

export interface ItemOutcome {
  ok: boolean
  /** Passed: what was seen. */
  summary?: string
  expected?: string
  got?: string
  hint?: string
}

export interface EndStateItem {
  /** Stable, for exclusions and weights: `route host01/ns1 default`. */
  id: string
  kind: ItemKind
  title: string
  anchor: Anchor
  /** What the item's outcome depends on, for the report: `iptables`, `br_netfilter`. */
  conditions?: string[]
  evaluate(student: MachineState): ItemOutcome
}

const q = (s: string) => `\`${s}\``
const inNs = (ns: string) => (ns ? `in ${ns}` : 'in the host')
const nsExec = (ns: string, cmd: string) => (ns ? `ip netns exec ${ns} ${cmd}` : cmd)

export function endStateItems(ref: MachineState, role: string, topology: Topology): EndStateItem[] {
  const items: EndStateItem[] = []
  const hostLink = (s: MachineState, ns: string, name: string) => s.links.find((l) => l.ns === ns && l.name === name)
  const unreadable = (s: MachineState, ns: string, what: string) => s.unreadable[`${ns || 'the host'} ${what}`]

  // How each namespace reaches the host in the lab; a student's namespace that does not is cut off.
  const attachments = new Map<string, { link: LinkState; peer: LinkState; bridge?: string; portState?: string }[]>()
  for (const ns of ref.namespaces) {
    const list = ref.links.filter((l) => l.ns === ns && l.peer && l.peer.ns !== ns).flatMap((link) => {
      const peer = hostLink(ref, link.peer!.ns, link.peer!.name)
      if (!peer) return []
      const port = ref.ports.find((p) => p.ns === peer.ns && p.port === peer.name)
      return [{ link, peer, ...(port ? { bridge: port.bridge, portState: port.state } : peer.master ? { bridge: peer.master } : {}) }]
    })
    if (list.length) attachments.set(ns, list)
  }
  const cutOff = (s: MachineState, ns: string): { why: string; fix: string } | undefined => {
    for (const a of attachments.get(ns) ?? []) {
      const reach = a.bridge ? `${a.bridge}` : `${a.peer.name} ${inNs(a.peer.ns)}`
      const why = (reason: string, fix: string) => ({ why: `${ns} does not reach ${reach} as the lab connects it: ${reason}`, fix })
      const link = hostLink(s, ns, a.link.name)
      if (!link) return why(`there is no ${a.link.name} in ${ns}`, `create ${a.link.name} in ${ns}, paired with ${a.peer.name} ${inNs(a.peer.ns)}`)
      if (!link.up) return why(`${a.link.name} in ${ns} is down`, nsExec(ns, `ip link set ${a.link.name} up`))
      const peer = link.peer ? hostLink(s, link.peer.ns, link.peer.name) : undefined
      if (!peer) return why(`the other end of ${a.link.name} is not found`, `${a.link.name} must be a veth whose other end is ${a.peer.name} ${inNs(a.peer.ns)}`)
      if (!peer.up) return why(`${peer.name}, the other end of ${a.link.name}, is down`, nsExec(peer.ns, `ip link set ${peer.name} up`))
      if (a.bridge) {
        const port = s.ports.find((p) => p.ns === peer.ns && p.port === peer.name)
        if (peer.master !== a.bridge && port?.bridge !== a.bridge) return why(`${peer.name}, the other end of ${a.link.name}, is not a port of ${a.bridge}`, nsExec(peer.ns, `ip link set ${peer.name} master ${a.bridge}`))
        const bridge = hostLink(s, peer.ns, a.bridge)
        if (bridge && !bridge.up) return why(`${a.bridge} is down`, nsExec(peer.ns, `ip link set ${a.bridge} up`))
        if (a.portState && port && port.state !== a.portState) return why(`${peer.name} is ${port.state} on ${a.bridge}, not ${a.portState}`, `the lab's ${peer.name} is ${a.portState} on ${a.bridge}`)
      }
    }
    return undefined
  }
  /** An item inside a namespace: its own comparison, then whether the namespace is reachable. */
  const withinNs = (ns: string, own: (s: MachineState) => ItemOutcome) => (s: MachineState): ItemOutcome => {
    const r = own(s)
    if (!r.ok || !ns) return r
    const cut = cutOff(s, ns)
    if (!cut) return r
    return { ok: false, expected: 'this, with the namespace connected as in the lab', got: `it is there, but ${cut.why}`, hint: `depends on ${ns} being connected: ${cut.why}; ${cut.fix}` }
  }

  for (const ns of ref.namespaces) {
    items.push({
      id: `namespace ${role} ${ns}`, kind: 'namespace', title: `network namespace ${ns}`, anchor: { words: [ns] },
      evaluate: (s) => (s.namespaces.includes(ns)
        ? { ok: true, summary: `${ns} exists` }
        : { ok: false, expected: `a network namespace ${ns}`, got: s.namespaces.length ? `the namespaces are ${s.namespaces.join(', ')}` : 'no network namespace', hint: `ip netns add ${ns}` }),
    })
  }

  for (const l of ref.links) {
    const where = nsLabel(role, l.ns)
    const peerWords = l.peer ? `, paired with ${l.peer.name} ${inNs(l.peer.ns)}` : ''
    items.push({
      id: `link ${where} ${l.name}`, kind: 'link', title: `${l.name} ${inNs(l.ns)}: a ${l.type}, ${l.up ? 'up' : 'down'}${peerWords}`, anchor: { words: [l.name] },
      evaluate: withinNs(l.ns, (s) => {
        if (l.ns && !s.namespaces.includes(l.ns)) return { ok: false, expected: `${l.name} in ${l.ns}`, got: `there is no namespace ${l.ns}`, hint: `ip netns add ${l.ns}, then create ${l.name} in it` }
        const cannot = unreadable(s, l.ns, 'links')
        if (cannot) return { ok: false, expected: `${l.name} ${inNs(l.ns)}`, got: `could not read the links: ${cannot}` }
        const got = hostLink(s, l.ns, l.name)
        if (!got) {
          const elsewhere = s.links.find((o) => o.name === l.name)
          return {
            ok: false, expected: `a ${l.type} ${l.name} ${inNs(l.ns)}`,
            got: elsewhere ? `${l.name} is ${inNs(elsewhere.ns)}` : `no link ${l.name} ${inNs(l.ns)}`,
            hint: elsewhere && l.ns ? `move it: ${nsExec(elsewhere.ns, `ip link set ${l.name} netns ${l.ns}`)}` : `create ${l.name}${l.type === 'veth' && l.peer ? ` (ip link add ${l.name} type veth peer name ${l.peer.name})` : l.type === 'bridge' ? ` (ip link add ${l.name} type bridge)` : ''}`,
          }
        }
        if (got.type !== l.type) return { ok: false, expected: `${l.name} a ${l.type}`, got: `a ${got.type}`, hint: `${l.name} must be a ${l.type}: delete it and create it as one` }
        if (l.peer && got.peer && (got.peer.name !== l.peer.name || got.peer.ns !== l.peer.ns)) {
          return { ok: false, expected: `${l.name} paired with ${l.peer.name} ${inNs(l.peer.ns)}`, got: `paired with ${got.peer.name} ${inNs(got.peer.ns)}`, hint: `the lab pairs ${l.name} with ${l.peer.name} ${inNs(l.peer.ns)}` }
        }
        if (got.up !== l.up) {
          return { ok: false, expected: `${l.name} ${l.up ? 'up' : 'down'}`, got: `${l.name} ${got.up ? 'up' : 'down'}`, hint: nsExec(l.ns, `ip link set ${l.name} ${l.up ? 'up' : 'down'}`) }
        }
        return { ok: true, summary: `${l.name} ${inNs(l.ns)}: ${got.type}, ${got.up ? 'up' : 'down'}${got.peer ? `, paired with ${got.peer.name} ${inNs(got.peer.ns)}` : ''}` }
      }),
    })
    for (const address of l.addresses) {
      items.push({
        id: `address ${where} ${l.name} ${address}`, kind: 'address', title: `${l.name} ${inNs(l.ns)} has ${address}`, anchor: { words: [address.split('/')[0]!] },
        evaluate: withinNs(l.ns, (s) => {
          const cannot = unreadable(s, l.ns, 'links')
          if (cannot) return { ok: false, expected: `${address} on ${l.name}`, got: `could not read the links: ${cannot}` }
          const got = hostLink(s, l.ns, l.name)
          if (got?.addresses.includes(address)) return { ok: true, summary: `${l.name} has ${address}` }
          const elsewhere = s.links.find((o) => o.ns === l.ns && o.addresses.includes(address))
          return {
            ok: false, expected: `${address} on ${l.name} ${inNs(l.ns)}`,
            got: elsewhere ? `${address} is on ${elsewhere.name}` : got ? `${l.name} has ${got.addresses.join(', ') || 'no IPv4 address'}` : `there is no ${l.name} ${inNs(l.ns)}`,
            hint: nsExec(l.ns, `ip addr add ${address} dev ${l.name}`),
          }
        }),
      })
    }
  }

  for (const p of ref.ports) {
    const where = nsLabel(role, p.ns)
    items.push({
      id: `port ${where} ${p.bridge} ${p.port}`, kind: 'port', title: `${p.port} is a ${p.state} port of ${p.bridge} ${inNs(p.ns)}`, anchor: { words: [p.port, p.bridge] },
      evaluate: (s) => {
        const cannot = unreadable(s, p.ns, 'bridge ports')
        if (cannot) return { ok: false, expected: `${p.port} a port of ${p.bridge}`, got: `could not read the bridge ports: ${cannot}` }
        const got = s.ports.find((o) => o.ns === p.ns && o.port === p.port)
        if (!got || got.bridge !== p.bridge) {
          return { ok: false, expected: `${p.port} a port of ${p.bridge}`, got: got ? `${p.port} is a port of ${got.bridge}` : `${p.port} is not a port of any bridge`, hint: nsExec(p.ns, `ip link set ${p.port} master ${p.bridge}`) }
        }
        if (got.state !== p.state) {
          return { ok: false, expected: `${p.port} ${p.state}`, got: `${p.port} ${got.state}`, hint: p.state === 'forwarding' ? `a port forwards once it and ${p.bridge} are up: ${nsExec(p.ns, `ip link set ${p.port} up`)}` : `the lab's ${p.port} is ${p.state}` }
        }
        return { ok: true, summary: `${p.port}: ${got.state} port of ${got.bridge}` }
      },
    })
  }

  for (const r of ref.routes) {
    const where = nsLabel(role, r.ns)
    const dst = normalDestination(r.dst)
    const labRoute = formatRoute(r)
    items.push({
      id: `route ${where} ${dst}`, kind: 'route', title: `${r.ns || 'the host'} routes ${labRoute}`,
      anchor: { words: [dst === 'default' ? 'default' : dst.split('/')[0]!, ...(r.via ? [r.via] : []), ...(r.ns ? [r.ns] : [])] },
      evaluate: withinNs(r.ns, (s) => {
        if (r.ns && !s.namespaces.includes(r.ns)) return { ok: false, expected: `a route ${labRoute} in ${r.ns}`, got: `there is no namespace ${r.ns}`, hint: `ip netns add ${r.ns}` }
        const cannot = unreadable(s, r.ns, 'routes')
        if (cannot) return { ok: false, expected: `a route ${labRoute}`, got: `could not read the routes: ${cannot}` }
        const mine = s.routes.filter((o) => o.ns === r.ns)
        const found = mine.find((o) => sameRoute(r, o))
        const add = nsExec(r.ns, `ip route add ${[r.dst, r.via && `via ${r.via}`, !r.via && r.dev && `dev ${r.dev}`, r.metric !== undefined && `metric ${r.metric}`].filter(Boolean).join(' ')}`)
        if (!found) {
          const sameDst = mine.find((o) => normalDestination(o.dst) === dst)
          const subject = dst === 'default' ? 'default route' : `route to ${dst}`
          return {
            ok: false, expected: `${r.ns || 'the host'}: ${labRoute}`,
            got: sameDst ? `${r.ns || 'the host'}'s ${subject} is ${formatRoute(sameDst)}` : `${r.ns || 'the host'} has no ${subject}`,
            hint: sameDst ? `${r.ns || 'the host'}'s ${subject} must be ${q(labRoute)}, as in the lab` : `${r.ns || 'the host'} has no ${subject}; the lab has ${q(labRoute)}: ${add}`,
          }
        }
        if (r.via && !s.links.some((l) => l.up && l.addresses.some((a) => a.split('/')[0] === r.via))) {
          const owner = ref.links.find((l) => l.addresses.some((a) => a.split('/')[0] === r.via))
          return { ok: false, expected: `${r.via}, the gateway of ${q(labRoute)}, on a link that is up`, got: `no link that is up carries ${r.via}`, hint: `the route is there, but its gateway is not: ${owner ? `the lab has ${r.via} on ${owner.name} ${inNs(owner.ns)}` : `${r.via} must be reachable`}` }
        }
        return { ok: true, summary: `${r.ns || 'the host'} routes ${formatRoute(found)}` }
      }),
    })
  }

  for (const [key, value] of Object.entries(ref.sysctls)) {
    if (value === null) continue
    items.push({
      id: `sysctl ${role} ${key}`, kind: 'sysctl', title: `${key} = ${value}`, anchor: { words: [key, key.replace(/\./g, '/')], setting: true },
      evaluate: (s) => {
        const got = s.sysctls[key]
        if (got === value) return { ok: true, summary: `${key} = ${got}` }
        return {
          ok: false, expected: `${key} = ${value}`, got: got === null || got === undefined ? `${key} does not exist on this machine` : `${key} = ${got}`,
          hint: key === 'net.ipv4.ip_forward' && value === '1' ? 'the host does not forward packets between its interfaces: sysctl -w net.ipv4.ip_forward=1' : `sysctl -w ${key}=${value}`,
        }
      },
    })
  }

  items.push(...ruleItems(ref, role, topology))
  return items
}

const TARGET_WORDS: Record<string, string> = { MASQUERADE: 'masqueraded', ACCEPT: 'let through', DROP: 'dropped', REJECT: 'rejected', SNAT: 'source-NATed', DNAT: 'destination-NATed' }

/** Where each kind of the lab's flows is judged: their new connections in nat POSTROUTING,
 *  both directions in filter FORWARD. */
const FLOW_CHAINS = [
  { table: 'nat', chain: 'POSTROUTING', states: ['NEW'] },
  { table: 'filter', chain: 'FORWARD', states: ['NEW', 'ESTABLISHED'] },
] as const

export function chainsOf(s: MachineState, table: string): Chains {
  return parseListing(s.iptables.filter((c) => c.table === table)
    .flatMap((c) => [...(c.policy ? [`-P ${c.chain} ${c.policy}`] : [`-N ${c.chain}`]), ...c.rules]).join('\n'))
}

const IPTABLES_CONDITION = 'iptables'

function ruleItems(ref: MachineState, role: string, topology: Topology): EndStateItem[] {
  const flows = labFlows(ref, topology)
  const refUplink = topology.underlay.interface
  const labInterfaces = new Set(ref.links.map((l) => l.name))
  const items: EndStateItem[] = []
  const decidedBy = new Map<string, { flow: Flow; verdict: Verdict }[]>()
  const policyDecided = new Map<string, { flow: Flow; verdict: Verdict }[]>()
  for (const fc of FLOW_CHAINS) {
    const chains = chainsOf(ref, fc.table)
    for (const flow of flows.filter((f) => (fc.states as readonly string[]).includes(f.state))) {
      const verdict = evaluateChain(chains, fc.chain, onMachine(flow, refUplink), labInterfaces)
      const key = verdict.policy ? `${fc.table} ${fc.chain}` : `${fc.table} ${verdict.rule}`
      const map = verdict.policy ? policyDecided : decidedBy
      map.set(key, [...(map.get(key) ?? []), { flow, verdict }])
    }
  }
  const judge = (table: string, chain: string, decided: { flow: Flow; verdict: Verdict }[], labHas: string) => (s: MachineState): ItemOutcome => {
    const cannot = s.unreadable[`iptables ${table}`]
    if (cannot) return { ok: false, expected: labHas, got: `could not read the ${table} table: ${cannot}` }
    const chains = chainsOf(s, table)
    const uplink = uplinkOf(s)
    for (const { flow, verdict } of decided) {
      const got = evaluateChain(chains, chain, onMachine(flow, uplink), labInterfaces)
      if (!sameVerdict(got, verdict)) {
        const words = TARGET_WORDS[verdict.target!] ?? `sent to ${verdict.target}`
        return {
          ok: false, expected: `${flow.label} ${words} in ${table} ${chain}`, got: describeVerdict(got, `${table} ${chain}`),
          hint: `${flow.label} is not ${words} on this machine (${describeVerdict(got, `${table} ${chain}`)}); the lab has ${labHas}`,
        }
      }
    }
    return { ok: true, summary: `the lab's traffic (${decided.filter((d) => d.flow.state === 'NEW').map((d) => d.flow.label).join('; ')}) is ${TARGET_WORDS[decided[0]!.verdict.target!] ?? decided[0]!.verdict.target} in ${table} ${chain}` }
  }
  for (const c of ref.iptables) {
    for (const line of c.rules) {
      const rule = parseRule(line)
      const normal = normalRule(line)
      const decided = decidedBy.get(`${c.table} ${line}`) ?? []
      const labHas = q(`iptables -t ${c.table} ${line}`)
      const base = { id: `rule ${role} ${c.table} ${c.chain} ${normal}`, kind: 'rule' as const, conditions: [IPTABLES_CONDITION], anchor: { words: ['iptables', c.chain, ...(rule.target ? [rule.target] : [])] } }
      if (decided.length) {
        items.push({ ...base, title: `${c.table} ${c.chain}: ${decided.some((d) => d.flow.state === 'NEW') ? 'the lab\'s traffic' : 'the replies'} as ${q(line)} does`, evaluate: judge(c.table, c.chain, decided, labHas) })
      } else {
        // A rule none of the lab's flows reaches: compared as a normalised rule.
        items.push({
          ...base, title: `${c.table} ${c.chain} has ${q(line)}`,
          evaluate: (s) => {
            const cannot = s.unreadable[`iptables ${c.table}`]
            if (cannot) return { ok: false, expected: labHas, got: `could not read the ${c.table} table: ${cannot}` }
            const mine = s.iptables.find((o) => o.table === c.table && o.chain === c.chain)?.rules ?? []
            if (mine.some((m) => normalRule(m) === normal)) return { ok: true, summary: `${c.table} ${c.chain} has ${q(line)}` }
            return { ok: false, expected: `${q(line)} in ${c.table} ${c.chain}`, got: mine.length ? mine.join('; ') : `no rule in ${c.table} ${c.chain}`, hint: `iptables -t ${c.table} ${line}` }
          },
        })
      }
    }
    if (c.policy && c.policy !== 'ACCEPT') {
      items.push({
        id: `policy ${role} ${c.table} ${c.chain}`, kind: 'rule', conditions: [IPTABLES_CONDITION], title: `${c.table} ${c.chain} policy ${c.policy}`, anchor: { words: ['iptables', c.chain, c.policy] },
        evaluate: (s) => {
          const got = s.iptables.find((o) => o.table === c.table && o.chain === c.chain)?.policy
          return got === c.policy ? { ok: true, summary: `${c.table} ${c.chain} policy ${got}` }
            : { ok: false, expected: `policy ${c.policy}`, got: `policy ${got ?? 'unknown'}`, hint: `iptables -t ${c.table} -P ${c.chain} ${c.policy}` }
        },
      })
    }
  }
  const forwarded = policyDecided.get('filter FORWARD')
  if (forwarded?.length) {
    items.push({
      id: `forwarding ${role} filter FORWARD`, kind: 'forwarding', conditions: [IPTABLES_CONDITION],
      title: 'filter FORWARD lets the lab\'s routed traffic through', anchor: { words: ['net.ipv4.ip_forward', 'net/ipv4/ip_forward'], setting: true },
      evaluate: judge('filter', 'FORWARD', forwarded, `no rule in filter FORWARD for this traffic, policy ${forwarded[0]!.verdict.target}`),
    })
  }
  return items
}

