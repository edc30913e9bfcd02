// One readable line per decoded packet, in the spirit of `tcpdump -n` but shorter, for reports
// and failure messages:
//   0.000012 IP 10.10.10.2 > 10.10.20.2 ttl 63 ICMP echo request id 5 seq 1
//   0.000000 ARP request who-has 1.2.3.102 tell 1.2.3.101
//   0.201000 IP 10.10.10.2 > 10.10.20.2 ttl 63 IPIP [IP 172.16.10.10 > 172.16.20.20 ttl 64 ICMP echo request id 7 seq 1]
//   0.000145 IP 192.168.21.11 > 192.168.21.12 ttl 64 VXLAN vni 42 [ether 02:… > 02:… IP … ICMP …]
// Encapsulated packets nest in brackets; the outermost link header is left out unless asked for.
import {
  nanosecondsSince,
  type ArpLayer,
  type Capture,
  type DecodedPacket,
  type Direction,
  type IcmpLayer,
  type Layer,
  type QuotedDatagram,
  type TcpFlags,
  type Timestamp,
} from './pcap.ts'

export interface DescribeOptions {
  /** Times are printed relative to this; default: the packet's own time (0). */
  origin?: Timestamp
  /** Decimal places of the time: 6 for microsecond captures (default), 9 for nanosecond ones. */
  precision?: Capture['precision']
  /** Names for the ifindex values of an SLL2 capture (`ip -j link` gives them). */
  interfaceNames?: ReadonlyMap<number, string>
  /** Also print the outermost link header (MAC addresses), like `tcpdump -e`. */
  linkHeaders?: boolean
}

/** One line per packet, times relative to the first packet. */
export function describeCapture(capture: Capture, options: Omit<DescribeOptions, 'origin' | 'precision'> = {}): string[] {
  const origin = capture.packets[0]?.timestamp
  return capture.packets.map((p) => describePacket(p, { ...options, origin, precision: capture.precision }))
}

export function describePacket(packet: DecodedPacket, options: DescribeOptions = {}): string {
  const parts = [formatRelativeTime(packet.timestamp, options.origin ?? packet.timestamp, options.precision ?? 'microsecond')]
  if (packet.interfaceIndex !== undefined) {
    parts.push(options.interfaceNames?.get(packet.interfaceIndex) ?? `if${packet.interfaceIndex}`)
  }
  if (packet.direction !== undefined) parts.push(directionWord(packet.direction))
  parts.push(describeLayers(packet.layers, 0, options.linkHeaders ?? false))
  return parts.filter((p) => p !== '').join(' ')
}

export function formatRelativeTime(timestamp: Timestamp, origin: Timestamp, precision: Capture['precision']): string {
  const ns = nanosecondsSince(origin, timestamp)
  const sign = ns < 0 ? '-' : ''
  const abs = Math.abs(ns)
  const seconds = Math.floor(abs / 1e9)
  const fraction = String(abs % 1e9).padStart(9, '0')
  return `${sign}${seconds}.${precision === 'nanosecond' ? fraction : fraction.slice(0, 6)}`
}

/** tcpdump's words for the Linux packet types. */
function directionWord(direction: Direction | number): string {
  switch (direction) {
    case 'in': return 'In'
    case 'out': return 'Out'
    case 'broadcast': return 'B'
    case 'multicast': return 'M'
    case 'other-host': return 'P'
    default: return `type${direction}`
  }
}

/** The text for layers[index..]: each layer describes itself and hands over to the next. */
function describeLayers(layers: readonly Layer[], index: number, showLink: boolean): string {
  const layer = layers[index]
  if (!layer) return ''
  const rest = () => describeLayers(layers, index + 1, true)
  const join = (...parts: string[]) => parts.filter((p) => p !== '').join(' ')
  switch (layer.kind) {
    case 'ethernet':
      return showLink ? join(`ether ${layer.src} > ${layer.dst}`, rest()) : rest()
    case 'linux-sll':
    case 'linux-sll2':
      return showLink && layer.src ? join(`from ${layer.src}`, rest()) : rest()
    case 'arp':
      return describeArp(layer)
    case 'ipv4': {
      const head = `IP ${layer.src} > ${layer.dst} ttl ${layer.ttl}`
      if (layer.moreFragments || layer.fragmentOffset > 0) {
        const fragment = `${head} frag id ${layer.id} offset ${layer.fragmentOffset}${layer.moreFragments ? ' more' : ''}`
        // A first fragment's ICMP or UDP header is decoded; other fragments are slices of a datagram.
        if (layers[index + 1]?.kind !== 'undecoded') return join(fragment, rest())
        return `${fragment} proto ${layer.protocol}, ${layer.totalLength - layer.headerLength} bytes`
      }
      if (layers[index + 1]?.kind === 'ipv4') return join(head, `IPIP [${rest()}]`)
      return join(head, rest())
    }
    case 'udp':
      // VXLAN speaks for itself; its UDP ports are flow hashes and noise here.
      if (layers[index + 1]?.kind === 'vxlan') return rest()
      // The payload of a first fragment is left out: its length is already said.
      return join(`UDP ${layer.srcPort} > ${layer.dstPort} length ${layer.length - 8}`,
        layers[index + 1]?.kind === 'undecoded' ? '' : rest())
    case 'vxlan':
      return `VXLAN vni ${layer.vni} [${rest()}]`
    case 'tcp':
      return join(`TCP ${layer.srcPort} > ${layer.dstPort} [${tcpFlagLetters(layer.flags)}] length ${layer.payloadLength}`, rest())
    case 'icmp':
      return join(describeIcmp(layer), rest())
    case 'undecoded':
      return `${layer.protocol}, ${layer.length} bytes`
    case 'truncated':
      return `[truncated: ${layer.header}, ${layer.captured} of ${layer.needed} bytes captured]`
  }
}

function describeArp(arp: ArpLayer): string {
  if (arp.operation === 'request') return `ARP request who-has ${arp.targetIp} tell ${arp.senderIp}`
  if (arp.operation === 'reply') return `ARP reply ${arp.senderIp} is-at ${arp.senderMac}`
  return `ARP operation ${arp.operation} ${arp.senderIp} (${arp.senderMac}) > ${arp.targetIp} (${arp.targetMac})`
}

const UNREACHABLE: Record<number, string> = {
  0: 'net unreachable', 1: 'host unreachable', 2: 'protocol unreachable', 3: 'port unreachable',
  4: 'unreachable, fragmentation needed', 9: 'net administratively prohibited', 10: 'host administratively prohibited',
  13: 'unreachable, administratively prohibited',
}

function describeIcmp(icmp: IcmpLayer): string {
  let text: string
  if (icmp.echo) text = `ICMP echo ${icmp.type === 8 ? 'request' : 'reply'} id ${icmp.echo.id} seq ${icmp.echo.seq}`
  else if (icmp.type === 0 || icmp.type === 8) text = `ICMP echo ${icmp.type === 8 ? 'request' : 'reply'}`
  else if (icmp.type === 3) text = `ICMP ${UNREACHABLE[icmp.code] ?? `unreachable code ${icmp.code}`}`
  else if (icmp.type === 11) text = `ICMP time exceeded ${icmp.code === 0 ? 'in-transit' : icmp.code === 1 ? 'reassembly' : `code ${icmp.code}`}`
  else if (icmp.type === 5) text = `ICMP redirect code ${icmp.code}${icmp.gateway ? ` to ${icmp.gateway}` : ''}`
  else if (icmp.type === 4) text = 'ICMP source quench'
  else if (icmp.type === 12) text = `ICMP parameter problem code ${icmp.code}`
  else text = `ICMP type ${icmp.type} code ${icmp.code}`
  return icmp.quoted ? `${text} for [${describeQuoted(icmp.quoted)}]` : text
}

function describeQuoted(q: QuotedDatagram): string {
  const head = `IP ${q.src} > ${q.dst} ttl ${q.ttl}`
  if (q.echo) return `${head} ICMP echo ${q.echo.type === 8 ? 'request' : 'reply'} id ${q.echo.id} seq ${q.echo.seq}`
  if (q.srcPort !== undefined && q.dstPort !== undefined) return `${head} ${q.protocol === 6 ? 'TCP' : 'UDP'} ${q.srcPort} > ${q.dstPort}`
  return `${head} proto ${q.protocol}`
}

/** tcpdump's flag letters, in tcpdump's order: F S R P . U E W. */
export function tcpFlagLetters(flags: TcpFlags): string {
  const letters = [
    flags.fin ? 'F' : '', flags.syn ? 'S' : '', flags.rst ? 'R' : '', flags.psh ? 'P' : '',
    flags.ack ? '.' : '', flags.urg ? 'U' : '', flags.ece ? 'E' : '', flags.cwr ? 'W' : '',
  ].join('')
  return letters || 'none'
}
