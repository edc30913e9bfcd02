// The wiring's `ip` commands (shared/topology.ts) as rtnetlink requests, for the netns nodes'
// maker to send itself (netns-root.ts) instead of starting `ip` once per node: the same messages
// `ip` sends for them, byte for byte (test/unit/netlink.test.ts compares them with iproute2's).
//
// Only the commands the wiring uses are known; any other is refused. Two values are known only
// where the request is sent, so a request names them and the sender writes them in at an offset:
// a descriptor of a node's network namespace (`netns node:NAME`: sent as IFLA_NET_NS_FD, as ip
// sends `netns /proc/…/ns/net`) and an interface's index (`dev X`, `master X`), which the sender
// asks the kernel for with the lookup request given.

/** One request: its bytes, and the values the sender writes in before sending it. */
export interface NetlinkRequest {
  /** The `ip` command it stands for, for errors. */
  command: string
  message: Buffer
  patches: NetlinkPatch[]
}

/** At `offset`, a 32-bit value: the sender's descriptor of node `netns`'s network namespace,
 *  or the index the kernel answers `lookup` (an RTM_GETLINK request) with. */
export type NetlinkPatch = { offset: number; netns: string } | { offset: number; lookup: Buffer }

// <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h>, <linux/veth.h>, <linux/if_addr.h>.
const NLM_F = { REQUEST: 1, ACK: 4, EXCL: 0x200, CREATE: 0x400 }
const RTM = { NEWLINK: 16, GETLINK: 18, NEWADDR: 20, NEWROUTE: 24 }
const IFLA = { IFNAME: 3, MASTER: 10, LINKINFO: 18, NET_NS_PID: 19, NET_NS_FD: 28 }
const IFLA_INFO = { KIND: 1, DATA: 2 }
const VETH_INFO_PEER = 1
const IFA = { ADDRESS: 1, LOCAL: 2, BROADCAST: 4 }
const RTA = { DST: 1, GATEWAY: 5 }
const AF_INET = 2
const IFF_UP = 1
const RT_TABLE_MAIN = 254
const RTPROT_BOOT = 3
const RTN_UNICAST = 1
const HEADER = 16
const IFINFOMSG = 16
const IFADDRMSG = 8
const RTMSG = 12

/** A netlink attribute, padded to 4 bytes; `value` may hold nested attributes. */
function attr(type: number, value: Buffer): Buffer {
  const b = Buffer.alloc(align(4 + value.length))
  b.writeUInt16LE(4 + value.length, 0)
  b.writeUInt16LE(type, 2)
  value.copy(b, 4)
  return b
}

const align = (n: number) => (n + 3) & ~3
const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n)
  return b
}
/** A name as `ip` gives it: NUL-terminated (an interface), or not (a link kind). */
const text = (s: string, nul = true) => Buffer.from(nul ? `${s}\0` : s)

function ifinfomsg(flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(IFINFOMSG)
  b.writeUInt32LE(flags, 8)
  b.writeUInt32LE(change, 12)
  return b
}

function message(type: number, flags: number, body: Buffer[]): Buffer {
  const payload = Buffer.concat(body)
  const b = Buffer.alloc(HEADER)
  b.writeUInt32LE(HEADER + payload.length, 0)
  b.writeUInt16LE(type, 4)
  b.writeUInt16LE(NLM_F.REQUEST | flags, 6)
  return Buffer.concat([b, payload])
}

/** RTM_GETLINK for interface `name`: the kernel answers with its RTM_NEWLINK, index at 20. */
export function linkLookup(name: string): Buffer {
  return message(RTM.GETLINK, 0, [ifinfomsg(), attr(IFLA.IFNAME, text(name))])
}

function ipv4(address: string, command: string): Buffer {
  const parts = address.split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`${command}: "${address}" is not an IPv4 address`)
  return Buffer.from(parts)
}

function prefix(cidr: string, command: string): { address: Buffer; length: number } {
  const [address, length = '32'] = cidr.split('/')
  const n = Number(length)
  if (!/^\d+$/.test(length) || n > 32) throw new Error(`${command}: "${cidr}" has no valid prefix length`)
  return { address: ipv4(address!, command), length: n }
}

/** The request `ip WORDS` sends, for the commands the wiring uses; `netns node:NAME` names a
 *  node's network namespace, `netns PID` a process's. */
export function netlinkRequest(words: string[]): NetlinkRequest {
  const command = `ip ${words.join(' ')}`
  const unknown = () => new Error(`${command}: not a command the wiring sends by netlink (link add … type bridge|veth, link set … [master …] up, addr add, route add … via)`)
  const w = (...expected: (string | undefined)[]) => expected.every((e, i) => e === undefined || words[i] === e)
  if (w('link', 'add', undefined, 'type', 'bridge') && words.length === 5) {
    return { command, message: message(RTM.NEWLINK, NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL, [ifinfomsg(), attr(IFLA.IFNAME, text(words[2]!)), attr(IFLA.LINKINFO, attr(IFLA_INFO.KIND, text('bridge', false)))]), patches: [] }
  }
  if (w('link', 'add', undefined, 'type', 'veth', 'peer', 'name', undefined, 'netns') && words.length === 10) {
    const netns = words[9]!
    const node = /^node:(.+)$/.exec(netns)?.[1]
    if (!node && !/^\d+$/.test(netns)) throw unknown()
    const peerName = attr(IFLA.IFNAME, text(words[7]!))
    const peer = Buffer.concat([ifinfomsg(), node ? attr(IFLA.NET_NS_FD, u32(0)) : attr(IFLA.NET_NS_PID, u32(Number(netns))), peerName])
    const head = [ifinfomsg(), attr(IFLA.IFNAME, text(words[2]!))]
    const msg = message(RTM.NEWLINK, NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL, [...head, attr(IFLA.LINKINFO, Buffer.concat([attr(IFLA_INFO.KIND, text('veth', false)), attr(IFLA_INFO.DATA, attr(VETH_INFO_PEER, peer))]))])
    // The descriptor is the value of the peer's IFLA_NET_NS_FD, just before its name.
    return { command, message: msg, patches: node ? [{ offset: msg.length - peerName.length - 4, netns: node }] : [] }
  }
  if (w('link', 'set', undefined) && words.at(-1) === 'up' && (words.length === 4 || (words.length === 6 && words[3] === 'master'))) {
    const master = words.length === 6
    const msg = message(RTM.NEWLINK, NLM_F.ACK, [ifinfomsg(IFF_UP, IFF_UP), ...(master ? [attr(IFLA.MASTER, u32(0))] : [])])
    // ifi_index, then IFLA_MASTER's value: the message's last 4 bytes.
    const patches: NetlinkPatch[] = [{ offset: HEADER + 4, lookup: linkLookup(words[2]!) }]
    if (master) patches.push({ offset: msg.length - 4, lookup: linkLookup(words[4]!) })
    return { command, message: msg, patches }
  }
  if (w('addr', 'add', undefined) && words.at(-2) === 'dev' && (words.length === 5 || (words.length === 7 && words[3] === 'brd' && words[4] === '+'))) {
    const { address, length } = prefix(words[2]!, command)
    const head = Buffer.alloc(IFADDRMSG)
    head.writeUInt8(AF_INET, 0)
    head.writeUInt8(length, 1)
    const attrs = [attr(IFA.LOCAL, address), attr(IFA.ADDRESS, address)]
    if (words.length === 7) {
      // `brd +`: the address with every host bit set.
      const hostBits = length === 32 ? 0 : 0xffffffff >>> length
      const broadcast = Buffer.alloc(4)
      broadcast.writeUInt32BE((address.readUInt32BE(0) | hostBits) >>> 0)
      attrs.push(attr(IFA.BROADCAST, broadcast))
    }
    return { command, message: message(RTM.NEWADDR, NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL, [head, ...attrs]), patches: [{ offset: HEADER + 4, lookup: linkLookup(words.at(-1)!) }] }
  }
  if (w('route', 'add', undefined, 'via') && words.length === 5) {
    const head = Buffer.alloc(RTMSG)
    head.writeUInt8(AF_INET, 0)
    head.writeUInt8(RT_TABLE_MAIN, 4)
    head.writeUInt8(RTPROT_BOOT, 5)
    head.writeUInt8(RTN_UNICAST, 7)
    const attrs: Buffer[] = []
    if (words[2] !== 'default') {
      const { address, length } = prefix(words[2]!, command)
      head.writeUInt8(length, 1)
      attrs.push(attr(RTA.DST, address))
    }
    attrs.push(attr(RTA.GATEWAY, ipv4(words[4]!, command)))
    return { command, message: message(RTM.NEWROUTE, NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL, [head, ...attrs]), patches: [] }
  }
  throw unknown()
}

