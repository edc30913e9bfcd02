// The end state compared by meaning, on a real capture: the state the bridge/NAT lab left on a
// netns host (test/fixtures/endstate/veth-bridge-nat.host01.raw.json, what the probe read),
// reduced to the lab's part and compared with copies of it carrying one student's change each.
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { endStateItems } from '../../harness/endstate/compare.ts'
import { cidrContains, evaluateChain, normalCidr, normalRule, parseListing, type Flow } from '../../harness/endstate/iptables-rule.ts'
import { labFlows } from '../../harness/endstate/flows.ts'
import { machineState, type MachineState } from '../../harness/endstate/model.ts'
import type { RawEndState } from '../../harness/endstate/probe.ts'
import { referenceState, sysctlKeysOf } from '../../harness/endstate/record.ts'
import { sameRoute } from '../../harness/endstate/route.ts'
import { loadScenarios, selectScenarios, type LoadedScenario } from '../../harness/scenario/loader.ts'
import { topologyOf } from '../../harness/scenario/plan.ts'

const [lab] = selectScenarios(await loadScenarios(), ['veth-bridge-nat']) as [LoadedScenario]
const raw = JSON.parse(readFileSync(new URL('../fixtures/endstate/veth-bridge-nat.host01.raw.json', import.meta.url), 'utf8')) as RawEndState
const found = machineState(raw)
const reference = referenceState(found, topologyOf(lab), lab, 'host01')
const items = endStateItems(reference, 'host01', topologyOf(lab))
const judge = (change: (s: MachineState) => void) => {
  const s = structuredClone(found)
  change(s)
  return items.map((i) => ({ id: i.id, ...i.evaluate(s) })).filter((o) => !o.ok)
}
const nat = (s: MachineState) => s.iptables.find((c) => c.table === 'nat' && c.chain === 'POSTROUTING')!

describe('rules normalised', () => {
  test('option order, long options, CIDR normal form, protocol numbers, comments and -A/-I are one rule', () => {
    const one = normalRule('-A POSTROUTING -s 192.168.28.0/24 -o eth0 -j MASQUERADE')
    expect(normalRule('-I POSTROUTING 1 --out-interface eth0 --source 192.168.28.7/255.255.255.0 -m comment --comment "lab nat" --jump MASQUERADE')).toBe(one)
    expect(normalRule('iptables -t nat -A POSTROUTING -o eth0 -s 192.168.28.0/24 -j MASQUERADE')).toBe(one)
    expect(normalRule('-A FORWARD -p 1 -j ACCEPT')).toBe(normalRule('-A FORWARD -p icmp -j ACCEPT'))
    expect(normalRule('-A POSTROUTING -s 192.168.28.0/24 -j MASQUERADE')).not.toBe(one)
    expect(normalCidr('10.1.2.3')).toBe('10.1.2.3/32')
    expect(cidrContains('192.168.28.0/24', '192.168.28.200')).toBe(true)
    expect(cidrContains('192.168.28.0/24', '192.168.29.1')).toBe(false)
  })

  test('a chain walked as the kernel does: user chains followed, RETURN, the first match decides, unknown matches said so', () => {
    const chains = parseListing([
      '-P FORWARD DROP', '-N LAB', '-A FORWARD -p tcp --dport 22 -j ACCEPT', '-A FORWARD -j LAB',
      '-A LAB -d 10.0.0.0/8 -j RETURN', '-A LAB -m state --state RELATED,ESTABLISHED -j ACCEPT', '-A LAB -s 192.168.28.0/24 -j ACCEPT',
    ].join('\n'))
    const flow = (src: string, dst: string, state: Flow['state'] = 'NEW'): Flow => ({ label: 'f', src, dst, proto: 'icmp', state })
    expect(evaluateChain(chains, 'FORWARD', flow('192.168.28.1', '8.8.8.8'), new Set())).toMatchObject({ target: 'ACCEPT', rule: '-A LAB -s 192.168.28.0/24 -j ACCEPT' })
    expect(evaluateChain(chains, 'FORWARD', flow('8.8.8.8', '192.168.28.1', 'ESTABLISHED'), new Set())).toMatchObject({ target: 'ACCEPT', rule: '-A LAB -m state --state RELATED,ESTABLISHED -j ACCEPT' })
    expect(evaluateChain(chains, 'FORWARD', flow('192.168.28.1', '10.1.1.1'), new Set())).toEqual({ target: 'DROP', policy: true })
    const marked = parseListing('-P POSTROUTING ACCEPT\n-A POSTROUTING -m mark --mark 0x1 -j MASQUERADE')
    expect(evaluateChain(marked, 'POSTROUTING', flow('192.168.28.1', '8.8.8.8'), new Set()).undecidable).toBe('`-A POSTROUTING -m mark --mark 0x1 -j MASQUERADE` uses -m mark --mark 0x1, which labproof does not evaluate')
  })
})

describe('the bridge/NAT lab\'s end state', () => {
  test('recorded without the lab\'s machinery: no lo, no underlay, no kernel routes, only the sysctls it touches', () => {
    expect(sysctlKeysOf(lab)).toEqual(['net.ipv4.ip_forward'])
    expect(reference.links.map((l) => `${l.ns || 'host'}:${l.name}`)).toEqual(['host:vbridge', 'host:veth-1-br', 'host:veth-2-br', 'host:veth-3-br', 'ns1:veth-1', 'ns2:veth-2', 'ns3:veth-3'])
    expect(reference.routes).toEqual(['ns1', 'ns2', 'ns3'].map((ns, i) => ({ ns, dst: 'default', via: '192.168.28.5', dev: `veth-${i + 1}` })))
    // A bridge's ports and their state, as `ip -d` gives them beside each link.
    expect(reference.ports).toEqual([1, 2, 3].map((i) => ({ ns: '', bridge: 'vbridge', port: `veth-${i}-br`, state: 'forwarding' })))
    expect(reference.iptables).toEqual([{ table: 'nat', chain: 'POSTROUTING', policy: 'ACCEPT', rules: ['-A POSTROUTING -s 192.168.28.0/24 -j MASQUERADE'] }])
    expect(labFlows(reference, topologyOf(lab)).filter((f) => f.state === 'NEW').map((f) => f.label)).toEqual(['ns1 (192.168.28.1) → 8.8.8.8', 'ns2 (192.168.28.2) → 8.8.8.8', 'ns3 (192.168.28.3) → 8.8.8.8'])
  })

  test('the machine it was read from passes every item', () => {
    expect(items).toHaveLength(23)
    expect(judge(() => {})).toEqual([])
  })

  test('a MASQUERADE with an extra qualifier that still covers the lab\'s traffic passes; one that misses it names the flow', () => {
    expect(judge((s) => { nat(s).rules = ['-A POSTROUTING -s 192.168.28.0/24 ! -o vbridge -j MASQUERADE'] })).toEqual([])
    expect(judge((s) => { nat(s).rules = ['-A POSTROUTING -o eth9 -j RETURN', '-A POSTROUTING -j MASQUERADE'] })).toEqual([])
    expect(judge((s) => { nat(s).rules = ['-A POSTROUTING -s 192.168.28.0/24 -o vbridge -j MASQUERADE'] })).toEqual([expect.objectContaining({
      id: 'rule host01 nat POSTROUTING -s 192.168.28.0/24 -j MASQUERADE',
      hint: 'ns1 (192.168.28.1) → 8.8.8.8 is not masqueraded on this machine (no rule of nat POSTROUTING matches it, so the policy (ACCEPT) applies); the lab has `iptables -t nat -A POSTROUTING -s 192.168.28.0/24 -j MASQUERADE`',
    })])
    expect(judge((s) => { nat(s).rules = ['-A POSTROUTING -s 192.168.28.2/32 -j ACCEPT', '-A POSTROUTING -s 192.168.28.0/24 -j MASQUERADE'] })[0]!.hint)
      .toMatch(/^ns2 \(192\.168\.28\.2\) → 8\.8\.8\.8 is not masqueraded on this machine \(it is taken by `-A POSTROUTING -s 192\.168\.28\.2\/32 -j ACCEPT`\)/)
  })

  test('routes as routes: the device follows from the gateway, a different gateway is named', () => {
    expect(sameRoute({ ns: 'ns1', dst: 'default', via: '192.168.28.5', dev: 'veth-1' }, { ns: 'ns1', dst: '0.0.0.0/0', via: '192.168.28.5', dev: 'other', proto: 'static', metric: 5 })).toBe(true)
    expect(judge((s) => { s.routes.find((r) => r.ns === 'ns1' && r.dst === 'default')!.via = '192.168.28.9' })).toEqual([expect.objectContaining({
      id: 'route host01/ns1 default', got: 'ns1\'s default route is default via 192.168.28.9 dev veth-1', hint: 'ns1\'s default route must be `default via 192.168.28.5 dev veth-1`, as in the lab',
    })])
  })

  test('a namespace cut off from the bridge fails every item inside it, each saying why and how to connect it', () => {
    const failed = judge((s) => {
      s.ports = s.ports.filter((p) => p.port !== 'veth-3-br')
      delete s.links.find((l) => l.name === 'veth-3-br')!.master
    })
    expect(failed.map((f) => f.id)).toEqual(['link host01/ns3 veth-3', 'address host01/ns3 veth-3 192.168.28.3/24', 'port host01 vbridge veth-3-br', 'route host01/ns3 default'])
    expect(failed[0]!.hint).toBe('depends on ns3 being connected: ns3 does not reach vbridge as the lab connects it: veth-3-br, the other end of veth-3, is not a port of vbridge; ip link set veth-3-br master vbridge')
  })

  test('a gateway address missing: the routes through it fail, naming where the lab has it', () => {
    const failed = judge((s) => { s.links.find((l) => l.name === 'vbridge')!.addresses = [] })
    expect(failed.map((f) => f.id)).toEqual(['address host01 vbridge 192.168.28.5/24', 'route host01/ns1 default', 'route host01/ns2 default', 'route host01/ns3 default'])
    expect(failed[1]!.hint).toBe('the route is there, but its gateway is not: the lab has 192.168.28.5 on vbridge in the host')
  })
})
