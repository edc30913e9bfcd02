// The leak detector of the isolation test, on real captures: lab addresses are flagged wherever
// they appear, and on a real interface so is unicast neither from nor to this machine.
import { readFile } from 'node:fs/promises'
import { describe, expect, test } from 'vitest'
import { readPcap } from '../../harness/capture/pcap.ts'
import { findLeaks, inCidr, normalizeIpv6, parseCidr, type LeakRule } from '../helpers/wire-leaks.ts'

const fixture = (name: string) => readFile(new URL(`../fixtures/pcap/${name}`, import.meta.url))

async function leaksIn(name: string, rule: Partial<LeakRule>) {
  const file = await fixture(name)
  return findLeaks(file, readPcap(file, { source: name }), { own: new Set(), lab: [], strict: false, ...rule })
}

describe('wire leaks', () => {
  test('addresses in subnets, and IPv6 written either way', () => {
    expect(inCidr('10.10.20.2', parseCidr('10.10.0.0/16'))).toBe(true)
    expect(inCidr('10.11.0.1', parseCidr('10.10.0.0/16'))).toBe(false)
    expect(inCidr('8.8.8.8', parseCidr('8.8.8.8'))).toBe(true)
    expect(inCidr('fe80::1', parseCidr('0.0.0.0/0'))).toBe(false)
    expect(normalizeIpv6('fe80::fc:ff:fe00:1')).toBe('fe80:0:0:0:fc:ff:fe00:1')
    expect(normalizeIpv6('fd00::2')).toBe('fd00:0:0:0:0:0:0:2')
    expect(normalizeIpv6('::1')).toBe('0:0:0:0:0:0:0:1')
  })

  test('a routed ping between lab namespaces: every packet, ARP included, carries a lab address', async () => {
    const leaks = await leaksIn('ethernet-routed-ping.pcap', { own: new Set(['192.0.2.2']), lab: [parseCidr('10.10.0.0/16')], strict: true })
    expect(leaks.length).toBeGreaterThanOrEqual(4)
    expect(leaks[0]).toEqual({ packet: 1, why: 'ARP 10.10.20.1 > 10.10.20.2: 10.10.20.1 is a lab address' })
    expect(leaks[2]).toEqual({ packet: 3, why: 'IPv4 10.10.10.2 > 10.10.20.2: 10.10.10.2 is a lab address' })
  })

  test('without lab subnets, strict mode flags IPv4 neither from nor to this machine, not ARP', async () => {
    const strangers = await leaksIn('ethernet-routed-ping.pcap', { own: new Set(['192.0.2.2']), strict: true })
    expect(strangers.length).toBeGreaterThan(0)
    expect(strangers.every((l) => /^IPv4 .*: neither address is this machine's$/.test(l.why))).toBe(true)
    expect(await leaksIn('ethernet-routed-ping.pcap', { own: new Set(['10.10.10.2']), strict: true })).toEqual([])
    expect(await leaksIn('ethernet-routed-ping.pcap', { own: new Set(['192.0.2.2']), strict: false })).toEqual([])
  })

  test('unanswered ARP for a lab address', async () => {
    const leaks = await leaksIn('ethernet-arp-unanswered.pcap', { lab: [parseCidr('1.2.3.0/24')] })
    expect(leaks.map((l) => l.why)).toEqual(Array(leaks.length).fill('ARP 1.2.3.101 > 1.2.3.102: 1.2.3.101 is a lab address'))
    expect(leaks.length).toBeGreaterThanOrEqual(3)
    expect(await leaksIn('ethernet-arp-unanswered.pcap', { strict: true })).toEqual([])
  })

  test('IPv6 (which the decoder leaves undecoded) by its header addresses', async () => {
    // Captured on a veth in a throw-away network namespace: fd00:21::2 and the two link-locals.
    expect(await leaksIn('ethernet-ipv6-nd.pcap', { own: new Set(['fe80::ff:fe00:a', 'fd00:21::2']), strict: true })).toEqual([])
    const fromB = await leaksIn('ethernet-ipv6-nd.pcap', { own: new Set(['fe80::ff:fe00:b']), strict: true })
    expect(fromB.map((l) => l.packet)).toEqual([1, 2, 3])
    expect(fromB[0]!.why).toBe("IPv6 fd00:21:0:0:0:0:0:2 > fe80:0:0:0:0:ff:fe00:a: neither address is this machine's")
    expect(await leaksIn('ethernet-ipv6-nd.pcap', { strict: true })).toHaveLength(5)
  })
})
