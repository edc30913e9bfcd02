// link / addr: exists, admin state, type, master, addresses and peer, MAC or none; read from
// `ip -j -d addr show`.
import { z } from 'zod'
import { shellQuote } from '../host.ts'
import { cidr, interfaceName, ipv4, target } from '../scenario/fields.ts'
import type { StepContext } from '../scenario/step-context.ts'
import { CheckFailure, Mismatches } from './check-failure.ts'
import { defineCheck, SHELL_ARG } from './kind.ts'
import { readSettled } from './settle.ts'

const schema = z.strictObject({
  on: target,
  name: interfaceName,
  exists: z.boolean().default(true),
  /** Administrative state: `ip link set NAME up` makes it up. */
  state: z.enum(['up', 'down']).optional(),
  type: z.enum(['veth', 'bridge', 'ipip', 'gre', 'tun', 'tap', 'vxlan', 'macvlan', 'loopback', 'ether']).optional(),
  master: interfaceName.optional(),
  /** Addresses with prefix the link must carry (others may exist). */
  addresses: z.array(cidr).optional(),
  /** Peer address of a point-to-point address (`ip addr add A peer B`). */
  peer: ipv4.optional(),
  /** Whether the link has a MAC address (a tun has none, a tap has one). */
  mac: z.boolean().optional(),
})
export type LinkCheck = z.output<typeof schema>

export interface IpLink {
  ifname: string
  flags: string[]
  operstate?: string
  link_type: string
  address?: string
  master?: string
  linkinfo?: { info_kind?: string; info_data?: { type?: string } }
  addr_info?: { family: string; local: string; prefixlen: number; address?: string }[]
}

/** The kind a user means: a tun and a tap are both `tun` to the kernel, told apart by info_data. */
export function linkType(l: IpLink): string {
  const kind = l.linkinfo?.info_kind
  if (kind === 'tun') return l.linkinfo?.info_data?.type ?? 'tun'
  if (kind) return kind
  return l.link_type === 'loopback' ? 'loopback' : l.link_type
}

/** The link's MAC address, if it has one. An ipip or gre tunnel reports its local IPv4 address
 *  in the same `address` field; only an Ethernet-type link has a MAC. */
export function macOf(l: IpLink): string | undefined {
  return l.link_type === 'ether' ? l.address : undefined
}

export function describeLink(l: IpLink): string {
  const addrs = (l.addr_info ?? []).filter((a) => a.family === 'inet')
    .map((a) => `${a.local}/${a.prefixlen}${a.address ? ` peer ${a.address}` : ''}`)
  return [
    `${l.ifname}: ${linkType(l)}`,
    l.flags.includes('UP') ? 'up' : 'down',
    l.master && `master ${l.master}`,
    macOf(l) ? `mac ${macOf(l)}` : 'no mac',
    addrs.length ? `inet ${addrs.join(', ')}` : 'no IPv4 address',
  ].filter(Boolean).join(', ')
}

const linkCommand = (c: LinkCheck) => `ip -j -d addr show dev ${shellQuote(c.name)}`

async function runLinkCheck(c: LinkCheck, ctx: StepContext): Promise<string> {
  const read = () => ctx.run(c.on, linkCommand(c))
  // A link expected gone may be on its way out: a deleted namespace's links (a veth end, and so
  // its peer) go after `ip netns delete` has returned (settle.ts).
  const r = c.exists ? await read() : await readSettled(read, (x) => x.exitCode === 0)
  const exists = r.exitCode === 0
  if (!c.exists) {
    if (exists) throw new CheckFailure(`no link ${c.name} on ${c.on}`, 'it exists', r.stdout.trim())
    return `${c.on} has no link ${c.name}`
  }
  if (!exists) throw new CheckFailure(`a link ${c.name} on ${c.on}`, (r.stderr || r.stdout).trim() || 'none')
  const link = (JSON.parse(r.stdout) as IpLink[])[0]!
  const m = new Mismatches()
  const up = link.flags.includes('UP')
  if (c.state && (c.state === 'up') !== up) m.add(`state ${c.state}`, up ? 'up' : 'down')
  if (c.type) {
    const t = linkType(link)
    if (t !== c.type) m.add(`type ${c.type}`, `type ${t}`)
  }
  if (c.master !== undefined && link.master !== c.master) m.add(`master ${c.master}`, link.master ? `master ${link.master}` : 'no master')
  const inet = (link.addr_info ?? []).filter((a) => a.family === 'inet')
  for (const want of c.addresses ?? []) {
    if (!inet.some((a) => `${a.local}/${a.prefixlen}` === want)) m.add(`address ${want}`, inet.length ? inet.map((a) => `${a.local}/${a.prefixlen}`).join(', ') : 'no IPv4 address')
  }
  if (c.peer && !inet.some((a) => a.address === c.peer)) m.add(`peer ${c.peer}`, inet.map((a) => a.address ?? 'no peer').join(', ') || 'no address')
  const mac = macOf(link)
  if (c.mac !== undefined && Boolean(mac) !== c.mac) m.add(c.mac ? 'a MAC address' : 'no MAC address', mac ? `mac ${mac}` : 'no MAC address')
  m.throwIfAny(`${c.name} on ${c.on}`, describeLink(link))
  return describeLink(link)
}

export default defineCheck({
  name: 'link',
  description: 'a network interface exists (or not), up or down, with its type, master, addresses, peer and MAC',
  schema,
  targets: ['on'],
  readsConfigOnly: true,
  requires: { tools: ['ip'] },
  title: (c) => `link ${c.name} on ${c.on}${c.exists === false ? ' absent' : ''}`,
  reads: (c) => [{ on: c.on, command: linkCommand(c) }],
  run: runLinkCheck,
  grading: {
    probes: [new RegExp(String.raw`^ip -j -d addr show dev ${SHELL_ARG}$`)],
    tools: ['ip'],
    subject: (c) => [c.on, c.name],
  },
})
