// Packet patterns for wire checks: outer and inner addresses, protocol, TTL, ICMP and ARP
// types, VXLAN VNI. An encapsulated packet (IP-in-IP, VXLAN) is matched on its outer headers,
// and `inner` matches the packet it carries.
import type { DecodedPacket, Layer } from './pcap.ts'

export interface PacketPattern {
  proto?: 'icmp' | 'arp' | 'udp' | 'tcp' | 'ipip' | 'vxlan'
  /** IPv4 source (for ARP: the sender's address). */
  src?: string
  /** IPv4 destination (for ARP: the address asked for). */
  dst?: string
  ttl?: number
  icmp?: 'echo-request' | 'echo-reply' | 'unreachable'
  arp?: 'request' | 'reply'
  vni?: number
  inner?: PacketPattern
}

const ICMP_TYPES = { 'echo-reply': 0, unreachable: 3, 'echo-request': 8 } as const

/** The layers of the packet an encapsulation carries, or undefined when it carries none. */
function innerLayers(layers: Layer[]): Layer[] | undefined {
  const vxlan = layers.findIndex((l) => l.kind === 'vxlan')
  if (vxlan >= 0) return layers.slice(vxlan + 1)
  const ip = layers.findIndex((l) => l.kind === 'ipv4')
  const first = ip >= 0 ? layers[ip] : undefined
  if (first?.kind === 'ipv4' && first.protocol === 4) return layers.slice(ip + 1)
  return undefined
}

function protoOf(layers: Layer[]): PacketPattern['proto'] | undefined {
  const kinds = layers.map((l) => l.kind)
  if (kinds.includes('vxlan')) return 'vxlan'
  if (kinds[0] === 'arp' || (kinds[1] === 'arp')) return 'arp'
  const ip = layers.find((l) => l.kind === 'ipv4')
  if (ip?.kind !== 'ipv4') return undefined
  if (ip.protocol === 4) return 'ipip'
  return ({ 1: 'icmp', 6: 'tcp', 17: 'udp' } as Record<number, PacketPattern['proto']>)[ip.protocol]
}

export function matchLayers(layers: Layer[], p: PacketPattern): boolean {
  const proto = protoOf(layers)
  if (p.proto && proto !== p.proto) return false
  const arp = layers.find((l) => l.kind === 'arp')
  if (arp?.kind === 'arp' && proto === 'arp') {
    if (p.arp && arp.operation !== p.arp) return false
    if (p.src && arp.senderIp !== p.src) return false
    if (p.dst && arp.targetIp !== p.dst) return false
    return p.ttl === undefined && p.icmp === undefined && p.inner === undefined
  }
  if (p.arp) return false
  const ip = layers.find((l) => l.kind === 'ipv4')
  if (p.src || p.dst || p.ttl !== undefined) {
    if (ip?.kind !== 'ipv4') return false
    if (p.src && ip.src !== p.src) return false
    if (p.dst && ip.dst !== p.dst) return false
    if (p.ttl !== undefined && ip.ttl !== p.ttl) return false
  }
  if (p.icmp) {
    // The ICMP header that belongs to this level, not one inside a tunnel.
    const own = innerLayers(layers) ? undefined : layers.find((l) => l.kind === 'icmp')
    if (own?.kind !== 'icmp' || own.type !== ICMP_TYPES[p.icmp]) return false
  }
  if (p.vni !== undefined) {
    const v = layers.find((l) => l.kind === 'vxlan')
    if (v?.kind !== 'vxlan' || v.vni !== p.vni) return false
  }
  if (p.inner) {
    const inner = innerLayers(layers)
    if (!inner || !matchLayers(inner, p.inner)) return false
  }
  return true
}

export function matchPacket(packet: DecodedPacket, p: PacketPattern): boolean {
  return matchLayers(packet.layers, p)
}

export function describePattern(p: PacketPattern): string {
  const parts: string[] = []
  if (p.proto) parts.push(p.proto === 'ipip' ? 'IP-in-IP' : p.proto.toUpperCase())
  if (p.arp) parts.push(p.arp)
  if (p.icmp) parts.push(p.icmp)
  if (p.src) parts.push(`from ${p.src}`)
  if (p.dst) parts.push(`to ${p.dst}`)
  if (p.ttl !== undefined) parts.push(`ttl ${p.ttl}`)
  if (p.vni !== undefined) parts.push(`vni ${p.vni}`)
  if (p.inner) parts.push(`carrying [${describePattern(p.inner)}]`)
  return parts.join(' ') || 'any packet'
}
