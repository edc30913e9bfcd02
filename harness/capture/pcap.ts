// Decoder for classic pcap files, the format `tcpdump -w` writes, for the link types a lab
// capture produces: Ethernet, RAW (tun devices), and Linux cooked SLL / SLL2 (`-i any`).
// Each packet becomes a flat list of layers, outermost first, so an encapsulated packet reads
//   ethernet, ipv4, udp, vxlan, ethernet, ipv4, icmp
// and the helpers at the end pick the outer or the innermost IPv4 header out of it.
//
// Strictness: a malformed file throws a PcapError naming the packet and the byte offset. A
// packet cut short by the snapshot length (`tcpdump -s 262`) is not malformed: it decodes as far
// as the captured bytes go and ends in a `truncated` layer. The two are told apart by comparing
// each header with what the enclosing header announces (malformed when it does not fit) and with
// what was captured (truncated when only the capture ran out).
import { readFile } from 'node:fs/promises'

export class PcapError extends Error {
  constructor(
    message: string,
    /** 1-based, as tcpdump and tshark number packets; undefined for the file header. */
    readonly packetNumber: number | undefined,
    /** Byte offset in the file where the problem is. */
    readonly offset: number,
  ) {
    super(message)
    this.name = 'PcapError'
  }
}

export type LinkType = 'ethernet' | 'raw' | 'linux-sll' | 'linux-sll2'

/** LINKTYPE_* values of the pcap format (not the DLT_* values of libpcap's API). */
export const LINK_TYPE_NUMBERS: Record<LinkType, number> = { ethernet: 1, raw: 101, 'linux-sll': 113, 'linux-sll2': 276 }

export interface Timestamp {
  seconds: number
  /** 0 ..< 1e9; microsecond files are scaled up. */
  nanoseconds: number
}

/** The Linux packet type of a cooked capture, with tcpdump's words for it. */
export type Direction = 'in' | 'out' | 'broadcast' | 'multicast' | 'other-host'

export interface EthernetLayer {
  kind: 'ethernet'
  src: string
  dst: string
  ethertype: number
}

/** The pseudo-header libpcap writes for `-i any`: no destination, one link-layer address. */
export interface LinuxCookedLayer {
  kind: 'linux-sll' | 'linux-sll2'
  /** The Linux packet type; a number when it is none of the usual five. */
  direction: Direction | number
  /** SLL2 only: the kernel's ifindex of the interface the packet was seen on. */
  interfaceIndex?: number
  /** ARPHRD_* of that interface: 1 Ethernet, 772 loopback, 65534 none (tun). */
  hardwareType: number
  /**
   * The sender's link-layer address (this host's when outgoing), when the interface has one:
   * a MAC, or an IPv4 address for an IPv4 tunnel device.
   */
  src?: string
  ethertype: number
}

export interface ArpLayer {
  kind: 'arp'
  operation: 'request' | 'reply' | number
  senderMac: string
  senderIp: string
  targetMac: string
  targetIp: string
}

export interface Ipv4Layer {
  kind: 'ipv4'
  src: string
  dst: string
  ttl: number
  /** IP protocol number: 1 ICMP, 4 IP-in-IP, 6 TCP, 17 UDP. */
  protocol: number
  id: number
  tos: number
  headerLength: number
  totalLength: number
  dontFragment: boolean
  moreFragments: boolean
  /** In bytes. */
  fragmentOffset: number
}

/** The start of the datagram an ICMP error quotes: its IPv4 header and first 8 payload bytes. */
export interface QuotedDatagram {
  src: string
  dst: string
  ttl: number
  protocol: number
  id: number
  srcPort?: number
  dstPort?: number
  echo?: { type: number; code: number; id: number; seq: number }
}

export interface IcmpLayer {
  kind: 'icmp'
  type: number
  code: number
  /** Echo request (8) and reply (0). */
  echo?: { id: number; seq: number }
  /** Redirect (5): the better first hop. */
  gateway?: string
  /** Unreachable (3), source quench (4), redirect (5), time exceeded (11), parameter problem (12). */
  quoted?: QuotedDatagram
}

export interface UdpLayer {
  kind: 'udp'
  srcPort: number
  dstPort: number
  /** The UDP length field: header and data. */
  length: number
}

export interface TcpFlags {
  fin: boolean
  syn: boolean
  rst: boolean
  psh: boolean
  ack: boolean
  urg: boolean
  ece: boolean
  cwr: boolean
}

export interface TcpLayer {
  kind: 'tcp'
  srcPort: number
  dstPort: number
  seq: number
  ack: number
  flags: TcpFlags
  window: number
  headerLength: number
  payloadLength: number
}

export interface VxlanLayer {
  kind: 'vxlan'
  vni: number
}

/** Bytes this decoder does not look into: IPv6, GRE, 802.3/LLC, an IPv4 fragment's payload. */
export interface UndecodedLayer {
  kind: 'undecoded'
  /** What they are: "ethertype 0x86dd (IPv6)", "IP protocol 47 (GRE)". */
  protocol: string
  length: number
}

/** Where the captured bytes ran out (snapshot length) before a header was complete. */
export interface TruncatedLayer {
  kind: 'truncated'
  /** The header that was cut: "ICMP echo header". */
  header: string
  needed: number
  captured: number
}

export type Layer =
  | EthernetLayer | LinuxCookedLayer | ArpLayer | Ipv4Layer | IcmpLayer | UdpLayer | TcpLayer | VxlanLayer
  | UndecodedLayer | TruncatedLayer
export type LayerKind = Layer['kind']
export type LayerOfKind<K extends LayerKind> = Extract<Layer, { kind: K }>

export interface DecodedPacket {
  /** 1-based, as tcpdump and tshark count. */
  number: number
  /** Byte offset of the packet's record header in the file. */
  offset: number
  timestamp: Timestamp
  capturedLength: number
  originalLength: number
  /** Cooked captures: whether the packet came in or went out. */
  direction?: Direction | number
  /** SLL2 only: the ifindex of the interface it was seen on. */
  interfaceIndex?: number
  layers: Layer[]
}

export interface Capture {
  byteOrder: 'little-endian' | 'big-endian'
  precision: 'microsecond' | 'nanosecond'
  version: { major: number; minor: number }
  snaplen: number
  linkType: LinkType
  packets: DecodedPacket[]
}

export interface ReadOptions {
  /** Named in error messages: the file the bytes came from. */
  source?: string
}

const FILE_HEADER_LENGTH = 24
const RECORD_HEADER_LENGTH = 16
// libpcap's ceiling, the limit for files whose header gives no snapshot length.
const MAX_SNAPLEN = 262_144
// IP-in-IP in VXLAN in …: deeper than this is a crafted file, not a lab.
const MAX_ENCAPSULATION_DEPTH = 32
const VXLAN_PORT = 4789

const MAGIC = new Map<number, { precision: Capture['precision'] }>([
  [0xa1b2c3d4, { precision: 'microsecond' }],
  [0xa1b23c4d, { precision: 'nanosecond' }],
])

const ETHERTYPE_NAMES: Record<number, string> = {
  0x86dd: 'IPv6', 0x8100: '802.1Q VLAN', 0x88a8: '802.1ad VLAN', 0x8035: 'RARP', 0x88cc: 'LLDP', 0x8847: 'MPLS',
}
const IP_PROTOCOL_NAMES: Record<number, string> = {
  2: 'IGMP', 41: 'IPv6-in-IPv4', 47: 'GRE', 50: 'ESP', 51: 'AH', 89: 'OSPF', 112: 'VRRP', 132: 'SCTP',
}
const DIRECTIONS: Direction[] = ['in', 'broadcast', 'multicast', 'other-host', 'out']
const ICMP_QUOTING_TYPES = new Set([3, 4, 5, 11, 12])

/** Read a pcap file from disk; errors name the file. */
export async function readPcapFile(path: string): Promise<Capture> {
  return readPcap(await readFile(path), { source: path })
}

export function readPcap(buf: Uint8Array, options: ReadOptions = {}): Capture {
  const where = options.source ? `${options.source}: ` : ''
  const headerError = (offset: number, why: string) => new PcapError(`${where}file header, byte ${offset}: ${why}`, undefined, offset)
  if (buf.length < FILE_HEADER_LENGTH) {
    throw headerError(0, `the file has ${buf.length} bytes, fewer than the ${FILE_HEADER_LENGTH} of a pcap file header`)
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const magicBigEndian = view.getUint32(0, false)
  const magicLittleEndian = view.getUint32(0, true)
  const littleEndian = !MAGIC.has(magicBigEndian) && MAGIC.has(magicLittleEndian)
  const format = MAGIC.get(magicBigEndian) ?? MAGIC.get(magicLittleEndian)
  if (!format) throw headerError(0, describeBadMagic(magicBigEndian))
  const u16 = (at: number) => view.getUint16(at, littleEndian)
  const u32 = (at: number) => view.getUint32(at, littleEndian)

  const version = { major: u16(4), minor: u16(6) }
  if (version.major !== 2) throw headerError(4, `pcap version ${version.major}.${version.minor}, only 2.x exists`)
  // Some writers leave the snapshot length 0; libpcap then applies its own ceiling.
  const headerSnaplen = u32(16)
  const snaplen = headerSnaplen === 0 ? MAX_SNAPLEN : headerSnaplen
  const linkField = u32(20)
  if (linkField >>> 16 !== 0) {
    throw headerError(20, `link type field 0x${hex(linkField, 8)} announces frame check sequences or reserved bits; not supported`)
  }
  const linkType = (Object.keys(LINK_TYPE_NUMBERS) as LinkType[]).find((t) => LINK_TYPE_NUMBERS[t] === linkField)
  if (!linkType) {
    throw headerError(20, `link type ${linkField} is not supported (supported: 1 Ethernet, 101 RAW, 113 LINUX_SLL, 276 LINUX_SLL2)`)
  }

  const fractionLimit = format.precision === 'nanosecond' ? 1_000_000_000 : 1_000_000
  const packets: DecodedPacket[] = []
  for (let offset = FILE_HEADER_LENGTH, number = 1; offset < buf.length; number++) {
    const recordError = (at: number, why: string) => new PcapError(`${where}packet ${number}, byte ${at}: ${why}`, number, at)
    const left = buf.length - offset
    if (left < RECORD_HEADER_LENGTH) {
      throw recordError(offset, `the file ends ${left} bytes into the ${RECORD_HEADER_LENGTH}-byte record header (truncated file)`)
    }
    const seconds = u32(offset)
    const fraction = u32(offset + 4)
    const capturedLength = u32(offset + 8)
    const originalLength = u32(offset + 12)
    if (fraction >= fractionLimit) {
      throw recordError(offset + 4, `timestamp fraction ${fraction} is not below ${fractionLimit} (${format.precision} file)`)
    }
    if (capturedLength > snaplen) {
      throw recordError(offset + 8, `captured length ${capturedLength} exceeds the file's snapshot length ${snaplen}`)
    }
    if (capturedLength > originalLength) {
      throw recordError(offset + 8, `captured length ${capturedLength} exceeds the packet's length on the wire ${originalLength}`)
    }
    const dataOffset = offset + RECORD_HEADER_LENGTH
    if (capturedLength > buf.length - dataOffset) {
      throw recordError(dataOffset, `the record announces ${capturedLength} captured bytes but the file ends after ${buf.length - dataOffset} (truncated file)`)
    }
    const frame = new Frame(view, dataOffset, capturedLength, (at, why) => recordError(dataOffset + at, why))
    const packet: DecodedPacket = {
      number,
      offset,
      timestamp: { seconds, nanoseconds: format.precision === 'nanosecond' ? fraction : fraction * 1000 },
      capturedLength,
      originalLength,
      layers: [],
    }
    decodeLink(linkType, frame, originalLength, packet)
    packets.push(packet)
    offset = dataOffset + capturedLength
  }
  return {
    byteOrder: littleEndian ? 'little-endian' : 'big-endian',
    precision: format.precision,
    version,
    snaplen: headerSnaplen,
    linkType,
    packets,
  }
}

function describeBadMagic(magic: number): string {
  if (magic === 0x0a0d0d0a) return 'this is a pcapng file; write classic pcap (tcpdump -w, or tshark -F pcap / editcap -F pcap)'
  if (magic === 0xa1b2cd34 || magic === 0x34cdb2a1) return 'this is the "modified pcap" (Kuznetzov) format; convert it with editcap -F pcap'
  return `bad magic number 0x${hex(magic, 8)}: not a pcap file`
}

/**
 * One packet's captured bytes. Positions are relative to the packet's first byte; every read is
 * bounds-checked against what was captured, so a decoding slip throws a PcapError, never a
 * RangeError.
 */
class Frame {
  constructor(
    private readonly view: DataView,
    private readonly base: number,
    readonly captured: number,
    readonly error: (at: number, why: string) => PcapError,
  ) {}

  private check(at: number, length: number): void {
    if (at < 0 || at + length > this.captured) throw this.error(at, `internal: read of ${length} bytes past the ${this.captured} captured`)
  }

  u8(at: number): number {
    this.check(at, 1)
    return this.view.getUint8(this.base + at)
  }

  u16(at: number): number {
    this.check(at, 2)
    return this.view.getUint16(this.base + at, false)
  }

  u32(at: number): number {
    this.check(at, 4)
    return this.view.getUint32(this.base + at, false)
  }

  mac(at: number, length = 6): string {
    const parts: string[] = []
    for (let i = 0; i < length; i++) parts.push(hex(this.u8(at + i), 2))
    return parts.join(':')
  }

  ipv4(at: number): string {
    return `${this.u8(at)}.${this.u8(at + 1)}.${this.u8(at + 2)}.${this.u8(at + 3)}`
  }
}

/** Where a layer may read: `at` is its start, `limit` the end its enclosing header allows. */
interface Span {
  frame: Frame
  at: number
  limit: number
  layers: Layer[]
  depth: number
}

/**
 * Is a `length`-byte header at span.at complete? Throws when the enclosing header leaves no room
 * for it (malformed); answers false, after noting a `truncated` layer, when only the capture
 * stopped short of it.
 */
function headerFits(span: Span, length: number, header: string): boolean {
  const room = span.limit - span.at
  if (length > room) {
    throw span.frame.error(span.at, `${header} needs ${length} bytes but ${room < 0 ? 0 : room} are left in the packet`)
  }
  const captured = span.frame.captured - span.at
  if (length > captured) {
    span.layers.push({ kind: 'truncated', header, needed: length, captured: Math.max(0, captured) })
    return false
  }
  return true
}

function inner(span: Span, at: number, limit: number): Span {
  if (span.depth >= MAX_ENCAPSULATION_DEPTH) {
    throw span.frame.error(at, `encapsulation nested deeper than ${MAX_ENCAPSULATION_DEPTH} levels`)
  }
  return { ...span, at, limit, depth: span.depth + 1 }
}

function decodeLink(linkType: LinkType, frame: Frame, originalLength: number, packet: DecodedPacket): void {
  const span: Span = { frame, at: 0, limit: originalLength, layers: packet.layers, depth: 0 }
  switch (linkType) {
    case 'ethernet':
      return decodeEthernet(span)
    case 'raw':
      return decodeRawIp(span)
    case 'linux-sll':
    case 'linux-sll2': {
      const cooked = decodeCooked(span, linkType)
      if (cooked) {
        packet.direction = cooked.direction
        if (cooked.interfaceIndex !== undefined) packet.interfaceIndex = cooked.interfaceIndex
      }
    }
  }
}

function decodeEthernet(span: Span): void {
  if (!headerFits(span, 14, 'Ethernet header')) return
  const { frame, at } = span
  const ethertype = frame.u16(at + 12)
  span.layers.push({ kind: 'ethernet', dst: frame.mac(at), src: frame.mac(at + 6), ethertype })
  decodeEthertype(inner(span, at + 14, span.limit), ethertype)
}

function decodeRawIp(span: Span): void {
  if (!headerFits(span, 1, 'IP version')) return
  const version = span.frame.u8(span.at) >> 4
  if (version === 4) return decodeIpv4(span)
  if (version === 6) return undecoded(span, 'IPv6')
  throw span.frame.error(span.at, `IP version ${version} in a RAW capture: each packet must start with an IPv4 or IPv6 header`)
}

// SLL:  packet type(2) ARPHRD(2) address length(2) address(8) protocol(2)
// SLL2: protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) address length(1) address(8)
function decodeCooked(span: Span, kind: 'linux-sll' | 'linux-sll2'): LinuxCookedLayer | undefined {
  const length = kind === 'linux-sll' ? 16 : 20
  if (!headerFits(span, length, kind === 'linux-sll' ? 'Linux SLL header' : 'Linux SLL2 header')) return undefined
  const { frame, at } = span
  const v1 = kind === 'linux-sll'
  const packetType = v1 ? frame.u16(at) : frame.u8(at + 10)
  const hardwareType = v1 ? frame.u16(at + 2) : frame.u16(at + 8)
  const addressLength = v1 ? frame.u16(at + 4) : frame.u8(at + 11)
  const addressAt = v1 ? at + 6 : at + 12
  const ethertype = v1 ? frame.u16(at + 14) : frame.u16(at)
  const layer: LinuxCookedLayer = {
    kind,
    direction: DIRECTIONS[packetType] ?? packetType,
    hardwareType,
    ethertype,
  }
  if (!v1) layer.interfaceIndex = frame.u32(at + 4)
  // The address field holds 8 bytes; a longer address is cut there by libpcap. IPv4 tunnels
  // (ipip, gre, sit) put their local IPv4 address there.
  if (addressLength === 4) layer.src = frame.ipv4(addressAt)
  else if (addressLength > 0) layer.src = frame.mac(addressAt, Math.min(addressLength, 8))
  span.layers.push(layer)
  const ARPHRD_NETLINK = 824
  const payload = inner(span, at + length, span.limit)
  if (hardwareType === ARPHRD_NETLINK) undecoded(payload, `netlink family ${ethertype}`)
  else decodeEthertype(payload, ethertype)
  return layer
}

function decodeEthertype(span: Span, ethertype: number): void {
  if (ethertype === 0x0800) return decodeIpv4(span)
  if (ethertype === 0x0806) return decodeArp(span)
  // Below 0x0600 the field is an 802.3 length (or, in SLL, Linux's LLC/Novell markers).
  if (ethertype < 0x0600) return undecoded(span, `802.3/LLC (type/length 0x${hex(ethertype, 4)})`)
  const name = ETHERTYPE_NAMES[ethertype]
  undecoded(span, `ethertype 0x${hex(ethertype, 4)}${name ? ` (${name})` : ''}`)
}

function undecoded(span: Span, protocol: string): void {
  span.layers.push({ kind: 'undecoded', protocol, length: Math.max(0, span.limit - span.at) })
}

function decodeArp(span: Span): void {
  if (!headerFits(span, 8, 'ARP header')) return
  const { frame, at } = span
  const hardwareType = frame.u16(at)
  const protocolType = frame.u16(at + 2)
  const hardwareLength = frame.u8(at + 4)
  const protocolLength = frame.u8(at + 5)
  if (hardwareType !== 1 || protocolType !== 0x0800 || hardwareLength !== 6 || protocolLength !== 4) {
    return undecoded(span, `ARP for hardware ${hardwareType}/${hardwareLength} bytes, protocol 0x${hex(protocolType, 4)}/${protocolLength} bytes`)
  }
  if (!headerFits(span, 28, 'ARP addresses')) return
  const operation = frame.u16(at + 6)
  span.layers.push({
    kind: 'arp',
    operation: operation === 1 ? 'request' : operation === 2 ? 'reply' : operation,
    senderMac: frame.mac(at + 8),
    senderIp: frame.ipv4(at + 14),
    targetMac: frame.mac(at + 18),
    targetIp: frame.ipv4(at + 24),
  })
}

function decodeIpv4(span: Span): void {
  if (!headerFits(span, 20, 'IPv4 header')) return
  const { frame, at } = span
  const first = frame.u8(at)
  if (first >> 4 !== 4) throw frame.error(at, `IPv4 header with version ${first >> 4}`)
  const headerLength = (first & 0x0f) * 4
  if (headerLength < 20) throw frame.error(at, `IPv4 header length field says ${headerLength} bytes, less than the 20-byte minimum`)
  const announcedLength = frame.u16(at + 2)
  // Total length 0 is how Linux writes a GSO packet above 64 KiB ("BIG TCP"): tcpdump then takes
  // the rest of the frame, and so does this; in a smaller frame a 0 is simply wrong.
  const totalLength = announcedLength === 0 && span.limit - at > 0xffff ? span.limit - at : announcedLength
  if (totalLength < headerLength) {
    throw frame.error(at + 2, `IPv4 total length ${totalLength} is shorter than its own header (${headerLength} bytes)`)
  }
  if (at + totalLength > span.limit) {
    throw frame.error(at + 2, `IPv4 total length ${totalLength} exceeds the ${span.limit - at} bytes the packet holds`)
  }
  if (!headerFits(span, headerLength, 'IPv4 header options')) return
  // Linux computes every IPv4 header checksum in software (no offload), so a mismatch means the
  // bytes were damaged, and every field read from them would be a guess.
  const checksum = internetChecksum(frame, at, headerLength)
  if (checksum !== 0) {
    throw frame.error(at + 10, `IPv4 header checksum 0x${hex(frame.u16(at + 10), 4)} does not match the header (damaged bytes)`)
  }
  const flagsAndOffset = frame.u16(at + 6)
  const layer: Ipv4Layer = {
    kind: 'ipv4',
    src: frame.ipv4(at + 12),
    dst: frame.ipv4(at + 16),
    ttl: frame.u8(at + 8),
    protocol: frame.u8(at + 9),
    id: frame.u16(at + 4),
    tos: frame.u8(at + 1),
    headerLength,
    totalLength,
    dontFragment: (flagsAndOffset & 0x4000) !== 0,
    moreFragments: (flagsAndOffset & 0x2000) !== 0,
    fragmentOffset: (flagsAndOffset & 0x1fff) * 8,
  }
  span.layers.push(layer)
  // Ethernet pads short frames: the payload ends where the IPv4 header says, not at the frame's end.
  const payload = inner(span, at + headerLength, at + totalLength)
  // A fragment carries part of a datagram: a later one has no transport header at all. The first
  // one's ICMP or UDP header is read, as tcpdump and tshark do, so that a large ping's id and seq
  // and a large datagram's ports are known; what follows those headers is not looked into.
  if (layer.moreFragments || layer.fragmentOffset > 0) {
    const firstFragment = layer.fragmentOffset === 0
    if (firstFragment && layer.protocol === 1) return decodeIcmp(payload)
    if (firstFragment && layer.protocol === 17) return decodeUdp(payload, { firstFragment })
    return undecoded(payload, `IPv4 fragment of protocol ${layer.protocol} at offset ${layer.fragmentOffset}`)
  }
  switch (layer.protocol) {
    case 1: return decodeIcmp(payload)
    case 4: return decodeIpv4(payload)
    case 6: return decodeTcp(payload)
    case 17: return decodeUdp(payload, { firstFragment: false })
    default: {
      const name = IP_PROTOCOL_NAMES[layer.protocol]
      return undecoded(payload, `IP protocol ${layer.protocol}${name ? ` (${name})` : ''}`)
    }
  }
}

function decodeIcmp(span: Span): void {
  if (!headerFits(span, 4, 'ICMP header')) return
  const { frame, at } = span
  const layer: IcmpLayer = { kind: 'icmp', type: frame.u8(at), code: frame.u8(at + 1) }
  const isEcho = layer.type === 0 || layer.type === 8
  const quotes = ICMP_QUOTING_TYPES.has(layer.type)
  if (!isEcho && !quotes) {
    span.layers.push(layer)
    return
  }
  if (!headerFits(span, 8, isEcho ? 'ICMP echo header' : 'ICMP header')) {
    // Keep what was read before the capture ran out, ahead of the `truncated` marker.
    span.layers.splice(span.layers.length - 1, 0, layer)
    return
  }
  if (isEcho) layer.echo = { id: frame.u16(at + 4), seq: frame.u16(at + 6) }
  if (layer.type === 5) layer.gateway = frame.ipv4(at + 4)
  span.layers.push(layer)
  if (quotes) {
    const quoted = decodeQuoted(inner(span, at + 8, span.limit))
    if (quoted) layer.quoted = quoted
  }
}

/** The quoted datagram of an ICMP error: only its first bytes are there, whatever its length says. */
function decodeQuoted(span: Span): QuotedDatagram | undefined {
  if (!headerFits(span, 20, 'quoted IPv4 header')) return undefined
  const { frame, at } = span
  const first = frame.u8(at)
  const headerLength = (first & 0x0f) * 4
  if (first >> 4 !== 4 || headerLength < 20) {
    throw frame.error(at, `the ICMP error quotes something that is not an IPv4 header (first byte 0x${hex(first, 2)})`)
  }
  if (!headerFits(span, headerLength, 'quoted IPv4 header options')) return undefined
  const quoted: QuotedDatagram = {
    src: frame.ipv4(at + 12),
    dst: frame.ipv4(at + 16),
    ttl: frame.u8(at + 8),
    protocol: frame.u8(at + 9),
    id: frame.u16(at + 4),
  }
  const transport = at + headerLength
  // RFC 792 promises 8 bytes of the original payload; use them only when they are all there.
  if (Math.min(span.limit, frame.captured) - transport >= 8 && (frame.u16(at + 6) & 0x1fff) === 0) {
    if (quoted.protocol === 6 || quoted.protocol === 17) {
      quoted.srcPort = frame.u16(transport)
      quoted.dstPort = frame.u16(transport + 2)
    } else if (quoted.protocol === 1 && (frame.u8(transport) === 8 || frame.u8(transport) === 0)) {
      quoted.echo = { type: frame.u8(transport), code: frame.u8(transport + 1), id: frame.u16(transport + 4), seq: frame.u16(transport + 6) }
    }
  }
  return quoted
}

/** In a first fragment the UDP length is the whole datagram's, longer than the fragment. */
function decodeUdp(span: Span, { firstFragment }: { firstFragment: boolean }): void {
  if (!headerFits(span, 8, 'UDP header')) return
  const { frame, at } = span
  const length = frame.u16(at + 4)
  if (length < 8) throw frame.error(at + 4, `UDP length ${length} is shorter than the 8-byte UDP header`)
  if (at + length > span.limit && !firstFragment) {
    throw frame.error(at + 4, `UDP length ${length} exceeds the ${span.limit - at} bytes its IPv4 datagram holds`)
  }
  const layer: UdpLayer = { kind: 'udp', srcPort: frame.u16(at), dstPort: frame.u16(at + 2), length }
  span.layers.push(layer)
  if (firstFragment) return undecoded(inner(span, at + 8, span.limit), `UDP payload in a first fragment`)
  if (layer.dstPort === VXLAN_PORT) decodeVxlan(inner(span, at + 8, at + length))
}

// flags(1) reserved(3) VNI(3) reserved(1); RFC 7348: the I flag (0x08) must be set.
function decodeVxlan(span: Span): void {
  if (!headerFits(span, 8, 'VXLAN header')) return
  const { frame, at } = span
  const flags = frame.u8(at)
  if ((flags & 0x08) === 0) {
    throw frame.error(at, `UDP to port ${VXLAN_PORT} without the VXLAN I flag (flags 0x${hex(flags, 2)}): not VXLAN or corrupt`)
  }
  span.layers.push({ kind: 'vxlan', vni: frame.u32(at + 4) >>> 8 })
  decodeEthernet(inner(span, at + 8, span.limit))
}

function decodeTcp(span: Span): void {
  if (!headerFits(span, 20, 'TCP header')) return
  const { frame, at } = span
  const headerLength = (frame.u8(at + 12) >> 4) * 4
  if (headerLength < 20) throw frame.error(at + 12, `TCP data offset says ${headerLength} bytes, less than the 20-byte minimum`)
  if (at + headerLength > span.limit) {
    throw frame.error(at + 12, `TCP header length ${headerLength} exceeds the ${span.limit - at} bytes its IPv4 datagram holds`)
  }
  const bits = frame.u8(at + 13)
  span.layers.push({
    kind: 'tcp',
    srcPort: frame.u16(at),
    dstPort: frame.u16(at + 2),
    seq: frame.u32(at + 4),
    ack: frame.u32(at + 8),
    flags: {
      fin: (bits & 0x01) !== 0, syn: (bits & 0x02) !== 0, rst: (bits & 0x04) !== 0, psh: (bits & 0x08) !== 0,
      ack: (bits & 0x10) !== 0, urg: (bits & 0x20) !== 0, ece: (bits & 0x40) !== 0, cwr: (bits & 0x80) !== 0,
    },
    window: frame.u16(at + 14),
    headerLength,
    payloadLength: span.limit - at - headerLength,
  })
}

/** RFC 1071 one's-complement sum of `length` bytes; 0 when a header including its checksum is intact. */
function internetChecksum(frame: Frame, at: number, length: number): number {
  let sum = 0
  for (let i = 0; i < length; i += 2) sum += frame.u16(at + i)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

function hex(value: number, digits: number): string {
  return value.toString(16).padStart(digits, '0')
}

// --- Walking a packet's layers ---------------------------------------------------------------

export function layersOf<K extends LayerKind>(packet: DecodedPacket, kind: K): LayerOfKind<K>[] {
  return packet.layers.filter((l): l is LayerOfKind<K> => l.kind === kind)
}

export function firstLayer<K extends LayerKind>(packet: DecodedPacket, kind: K): LayerOfKind<K> | undefined {
  return layersOf(packet, kind)[0]
}

export function lastLayer<K extends LayerKind>(packet: DecodedPacket, kind: K): LayerOfKind<K> | undefined {
  return layersOf(packet, kind).at(-1)
}

/** The outermost IPv4 header: the underlay's in a VXLAN or IP-in-IP packet. */
export function outerIpv4(packet: DecodedPacket): Ipv4Layer | undefined {
  return firstLayer(packet, 'ipv4')
}

/** The innermost IPv4 header: the one the overlay's endpoints wrote. */
export function innermostIpv4(packet: DecodedPacket): Ipv4Layer | undefined {
  return lastLayer(packet, 'ipv4')
}

/** The innermost ICMP message. */
export function icmpOf(packet: DecodedPacket): IcmpLayer | undefined {
  return lastLayer(packet, 'icmp')
}

export function arpOf(packet: DecodedPacket): ArpLayer | undefined {
  return lastLayer(packet, 'arp')
}

export function isTruncated(packet: DecodedPacket): boolean {
  return packet.layers.at(-1)?.kind === 'truncated'
}

/** Nanoseconds from `origin` to the packet's timestamp (exact for gaps up to 104 days). */
export function nanosecondsSince(origin: Timestamp, timestamp: Timestamp): number {
  return (timestamp.seconds - origin.seconds) * 1_000_000_000 + (timestamp.nanoseconds - origin.nanoseconds)
}
