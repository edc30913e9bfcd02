// A link has a MAC only if it is an Ethernet-type link: an ipip tunnel reports its local IPv4
// address in the same `address` field of `ip -j -d addr show` (captured in a Debian 6.1 VM).
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { describeLink, macOf, type IpLink } from '../../harness/checks/link.ts'

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/outputs/${name}`, import.meta.url), 'utf8')) as IpLink[]

describe('macOf', () => {
  test('an ipip tunnel has no MAC, though `address` holds its local IPv4 address', () => {
    const [tun1] = fixture('ip-j-d-addr-ipip.json')
    expect(tun1!.address).toBe('10.10.10.2')
    expect(macOf(tun1!)).toBeUndefined()
    expect(describeLink(tun1!)).toBe('tun1: ipip, up, no mac, no IPv4 address')
  })

  test('an Ethernet-type link (veth, bridge, tap) has its MAC', () => {
    const veths = fixture('ip-j-d-addr.json').filter((l) => l.link_type === 'ether')
    expect(veths.length).toBeGreaterThan(0)
    for (const l of veths) expect(macOf(l)).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/)
  })
})
