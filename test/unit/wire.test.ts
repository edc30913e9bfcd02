// Wire patterns and claims against real captures (test/fixtures/pcap, made by tcpdump).
import { describe, expect, test } from 'vitest'
import type { Evidence } from '../../harness/capture/evidence.ts'
import { mergeSpecs } from '../../harness/capture/capture-set.ts'
import { describeCapture } from '../../harness/capture/describe.ts'
import { matchPacket } from '../../harness/capture/pattern.ts'
import { readPcapFile, type Capture } from '../../harness/capture/pcap.ts'
import { assertWire } from '../../harness/checks/wire.ts'

const load = (name: string) => readPcapFile(new URL(`../fixtures/pcap/${name}.pcap`, import.meta.url).pathname)

function evidence(on: string, c: Capture): Evidence {
  return { captures: new Map([[on, c]]), decode: () => describeCapture(c).join('\n') }
}

describe('packet patterns', () => {
  test('IP-in-IP: outer tunnel endpoints, inner tunnel addresses', async () => {
    const c = await load('ipip-routed')
    const request = c.packets[0]!
    expect(matchPacket(request, { proto: 'ipip', src: '10.10.10.2', dst: '10.10.20.2', inner: { proto: 'icmp', icmp: 'echo-request', src: '172.16.10.10', dst: '172.16.20.20', ttl: 64 } })).toBe(true)
    // The ICMP lives inside the tunnel: the outer packet is not plain ICMP.
    expect(matchPacket(request, { proto: 'icmp' })).toBe(false)
    expect(matchPacket(request, { icmp: 'echo-request' })).toBe(false)
    expect(matchPacket(request, { proto: 'ipip', inner: { src: '172.16.20.20' } })).toBe(false)
  })

  test('VXLAN: the VNI and the inner frame', async () => {
    const c = await load('vxlan-ping')
    const n = c.packets.filter((p) => matchPacket(p, { proto: 'vxlan', vni: 42, inner: { proto: 'icmp', icmp: 'echo-request', src: '172.16.42.1' } })).length
    expect(n).toBeGreaterThan(0)
    expect(c.packets.some((p) => matchPacket(p, { proto: 'vxlan', vni: 43 }))).toBe(false)
    expect(c.packets.some((p) => matchPacket(p, { proto: 'vxlan', inner: { proto: 'arp', arp: 'request', dst: '172.16.42.2' } }))).toBe(true)
  })

  test('ARP requests with no reply', async () => {
    const c = await load('ethernet-arp-unanswered')
    expect(c.packets.filter((p) => matchPacket(p, { proto: 'arp', arp: 'request', src: '1.2.3.101', dst: '1.2.3.102' }))).toHaveLength(3)
    expect(c.packets.filter((p) => matchPacket(p, { arp: 'reply' }))).toHaveLength(0)
  })

  test('TTL after one routed hop, on a cooked capture of every interface', async () => {
    const c = await load('sll2-routed-ping')
    expect(c.packets.some((p) => matchPacket(p, { proto: 'icmp', icmp: 'echo-request', dst: '10.10.20.2', ttl: 63 }))).toBe(true)
    expect(c.packets.some((p) => matchPacket(p, { proto: 'icmp', icmp: 'echo-request', dst: '10.10.20.2', ttl: 64 }))).toBe(true)
  })
})

describe('wire claims', () => {
  test('a right claim passes and says what it counted', async () => {
    const c = await load('ethernet-arp-unanswered')
    expect(assertWire({ on: 'host01:veth1', match: { proto: 'arp', arp: 'request', dst: '1.2.3.102' }, min: 3 }, evidence('host01:veth1', c))).toBe('3 × ARP request to 1.2.3.102 on host01:veth1')
    expect(assertWire({ on: 'host01:veth1', match: { proto: 'arp', arp: 'reply' }, max: 0 }, evidence('host01:veth1', c))).toMatch(/^0 ×/)
  })

  test('a wrong claim fails, quoting the packets it saw', async () => {
    const c = await load('ipip-routed')
    const wrong = () => assertWire({ on: 'host01:ens33', match: { proto: 'ipip', inner: { proto: 'icmp', ttl: 63 } } }, evidence('host01:ens33', c))
    expect(wrong).toThrow(/expected at least 1 IP-in-IP carrying \[ICMP ttl 63\] on host01:ens33\n\s+got 0 of 4 packets captured there/)
    expect(wrong).toThrow(/IPIP \[IP 172\.16\.10\.10 > 172\.16\.20\.20 ttl 64 ICMP echo request/)
  })

  test('"never" fails when the packet is there', async () => {
    const c = await load('vxlan-ping')
    expect(() => assertWire({ on: 'host01:ens33', match: { proto: 'vxlan', vni: 42 }, max: 0 }, evidence('host01:ens33', c))).toThrow(/expected none VXLAN vni 42 on host01:ens33/)
  })
})

describe('capture specs', () => {
  test('two claims on one interface share one capture, their filters or-ed; no filter wins', () => {
    expect(mergeSpecs([{ on: 'a:x', filter: 'icmp' }, { on: 'a:x', filter: 'arp' }, { on: 'b:y' }])).toEqual([{ on: 'a:x', filter: '(icmp) or (arp)' }, { on: 'b:y' }])
    expect(mergeSpecs([{ on: 'a:x', filter: 'icmp' }, { on: 'a:x' }])).toEqual([{ on: 'a:x' }])
    expect(mergeSpecs([{ on: 'a:x', filter: 'arp' }, { on: 'a:x', filter: 'arp' }])).toEqual([{ on: 'a:x', filter: 'arp' }])
  })
})
