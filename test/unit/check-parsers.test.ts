// The checks read JSON from iproute2 and text from iptables; these are real outputs captured
// on this kind of machine (see test/fixtures/outputs).
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { portsOf, portsSettling, type BridgePort } from '../../harness/checks/bridge.ts'
import { rulesOf } from '../../harness/checks/iptables.ts'
import { describeLink, linkType, type IpLink } from '../../harness/checks/link.ts'
import { findRoute, type IpRoute } from '../../harness/checks/route.ts'

const fixture = (name: string) => readFileSync(new URL(`../fixtures/outputs/${name}`, import.meta.url), 'utf8')
const links = JSON.parse(fixture('ip-j-d-addr.json')) as IpLink[]
const byName = (n: string) => links.find((l) => l.ifname === n)!

describe('links from ip -j -d addr', () => {
  test('a tun and a tap are told apart, and only the tap has a MAC', () => {
    expect(linkType(byName('t0'))).toBe('tun')
    expect(linkType(byName('t1'))).toBe('tap')
    expect(byName('t0').address).toBeUndefined()
    expect(byName('t1').address).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/)
  })

  test('a veth with a point-to-point address shows its peer', () => {
    expect(linkType(byName('va'))).toBe('veth')
    expect(describeLink(byName('va'))).toContain('172.16.100.10/32 peer 172.16.30.30')
    expect(describeLink(byName('va'))).toContain('10.0.1.100/24')
  })

  test('bridge, its master links, and loopback', () => {
    expect(linkType(byName('br0'))).toBe('bridge')
    expect(byName('vb').master).toBe('br0')
    expect(linkType(byName('lo'))).toBe('loopback')
  })
})

describe('bridge ports from bridge -j link', () => {
  test('ports of a bridge with their STP state', () => {
    const ports = portsOf(JSON.parse(fixture('bridge-j-link.json')) as BridgePort[], 'br0')
    expect(ports.map((p) => [p.ifname, p.state])).toEqual([['t1', 'disabled'], ['vb', 'forwarding']])
    expect(portsOf(JSON.parse(fixture('bridge-j-link.json')) as BridgePort[], 'vbridge')).toEqual([])
  })

  test('a port expected forwarding and still disabled is read again; one in the state asked for, or missing, is not', () => {
    const ports = portsOf(JSON.parse(fixture('bridge-j-link.json')) as BridgePort[], 'br0')
    expect(portsSettling({ t1: 'forwarding', vb: 'forwarding' }, ports)).toBe(true)
    expect(portsSettling({ t1: 'disabled', vb: 'forwarding' }, ports)).toBe(false)
    expect(portsSettling({ vb: 'forwarding', gone: 'forwarding' }, ports)).toBe(false)
    expect(portsSettling({ vb: 'blocking' }, ports)).toBe(false)
  })
})

describe('routes from ip -j route', () => {
  const routes = JSON.parse(fixture('ip-j-route.json')) as IpRoute[]
  test('a network route by destination, gateway and device', () => {
    expect(findRoute(routes, { dst: '10.10.20.0/24', via: '10.0.1.1', dev: 'va' })).toBeDefined()
    expect(findRoute(routes, { dst: '10.10.20.0/24', via: '10.0.1.2' })).toBeUndefined()
    expect(findRoute(routes, { dst: '10.10.30.0/24' })).toBeUndefined()
  })

  test('a host route is found as /32 or bare', () => {
    expect(findRoute(routes, { dst: '172.16.30.30/32', dev: 'va' })).toBeDefined()
    expect(findRoute(routes, { dst: '172.16.30.30' })).toBeDefined()
  })
})

describe('rules from iptables -S', () => {
  test('the rules of one chain, without the -A prefix', () => {
    expect(rulesOf(fixture('iptables-S-nat-postrouting.txt'), 'POSTROUTING')).toEqual(['-s 192.168.28.0/24 -j MASQUERADE'])
    expect(rulesOf(fixture('iptables-S-nat-postrouting.txt'), 'PREROUTING')).toEqual([])
  })
})
