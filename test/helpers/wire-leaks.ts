// Which packets seen on one of the machine's own interfaces betray a lab: any packet to or from
// a lab address (the scenarios' subnets, the underlay, the simulated internet's 8.8.8.8), and, on
// a real interface captured without promiscuous mode, any unicast packet neither from nor to
// this machine (something forwarded through it). Decoded with labproof's own pcap reader; IPv6,
// which it leaves undecoded, has its two addresses read from the header here.
import { layersOf, type Capture, type DecodedPacket } from '../../harness/capture/pcap.ts'

export interface Cidr { base: number; bits: number; text: string }

export function parseCidr(text: string): Cidr {
  const [address, bits] = text.split('/') as [string, string | undefined]
  return { base: ipv4ToNumber(address), bits: bits === undefined ? 32 : Number(bits), text }
}

function ipv4ToNumber(a: string): number {
  return a.split('.').reduce((n, octet) => (n * 256) + Number(octet), 0)
}

export function inCidr(address: string, c: Cidr): boolean {
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(address)) return false
  const mask = c.bits === 0 ? 0 : 2 ** 32 - 2 ** (32 - c.bits)
  return ((ipv4ToNumber(address) & mask) >>> 0) === ((c.base & mask) >>> 0)
}

export interface LeakRule {
  /** This machine's own addresses (IPv4 and IPv6, as `ip -j addr` prints them). */
  own: Set<string>
  /** Lab addresses and subnets: nothing may carry them on the machine's interfaces. */
  lab: Cidr[]
  /** A real interface, captured with -p: also flag unicast neither from nor to this machine. */
  strict: boolean
}

export interface Leak { packet: number; why: string }

function isGroupOrBroadcast(address: string): boolean {
  if (address.includes(':')) return /^ff/i.test(address)
  const first = Number(address.split('.')[0])
  return address === '255.255.255.255' || (first >= 224 && first <= 239) || address.endsWith('.255')
}

/** The IPv6 source and destination of an Ethernet frame carrying IPv6, from the raw file. */
function ipv6Addresses(file: Buffer, capture: Capture, p: DecodedPacket): { src: string; dst: string } | undefined {
  if (capture.linkType !== 'ethernet') return undefined
  const undecoded = layersOf(p, 'undecoded').find((l) => /0x86dd/.test(l.protocol))
  if (!undecoded || p.capturedLength < 14 + 40) return undefined
  const header = file.subarray(p.offset + 16 + 14, p.offset + 16 + 14 + 40)
  const hex = (b: Buffer) => [...Array(8)].map((_, i) => b.readUInt16BE(i * 2).toString(16)).join(':')
  return { src: hex(header.subarray(8, 24)), dst: hex(header.subarray(24, 40)) }
}

/** `fe80::fc:ff:fe00:1` → `fe80:0:0:0:fc:ff:fe00:1`: every group, no leading zeros. */
export function normalizeIpv6(a: string): string {
  const [head, tail] = a.includes('::') ? a.split('::') as [string, string] : [a, undefined]
  const left = head ? head.split(':') : []
  const right = tail !== undefined && tail ? tail.split(':') : []
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
  return groups.map((g) => parseInt(g, 16).toString(16)).join(':')
}

export function findLeaks(file: Buffer, capture: Capture, rule: LeakRule): Leak[] {
  const own = new Set([...rule.own].map((a) => (a.includes(':') ? normalizeIpv6(a) : a)))
  const leaks: Leak[] = []
  for (const p of capture.packets) {
    const pairs: { src: string; dst: string; kind: string }[] = [
      ...layersOf(p, 'ipv4').map((l) => ({ src: l.src, dst: l.dst, kind: 'IPv4' })),
      ...layersOf(p, 'arp').map((l) => ({ src: l.senderIp, dst: l.targetIp, kind: 'ARP' })),
    ]
    const v6 = ipv6Addresses(file, capture, p)
    if (v6) pairs.push({ ...v6, kind: 'IPv6' })
    for (const { src, dst, kind } of pairs) {
      const lab = [src, dst].find((a) => rule.lab.some((c) => inCidr(a, c)))
      if (lab) {
        leaks.push({ packet: p.number, why: `${kind} ${src} > ${dst}: ${lab} is a lab address` })
        continue
      }
      // ARP on a shared segment may be between two other hosts (broadcast): only lab addresses count.
      if (rule.strict && kind !== 'ARP' && !own.has(src) && !own.has(dst) && !isGroupOrBroadcast(dst) && src !== '0.0.0.0' && src !== '::') {
        leaks.push({ packet: p.number, why: `${kind} ${src} > ${dst}: neither address is this machine's` })
      }
    }
  }
  return leaks
}
