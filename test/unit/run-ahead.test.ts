// Which steps may run while a "no reply" claim waits for its verdict (engine/run-ahead.ts): only
// what cannot change the answer and cannot see the claim's packets.
import { describe, expect, test } from 'vitest'
import { mayRunAhead, noReplyClaim, readsConfigOnly } from '../../harness/engine/run-ahead.ts'
import { parseScenario } from '../../harness/scenario/loader.ts'
import { planSteps } from '../../harness/scenario/plan.ts'

function steps(...lines: string[]) {
  const text = ['id: t', 'title: t', 'source: { doc: none.txt, section: s }', 'steps:', ...lines.map((l) => `  - ${l}`)].join('\n') + '\n'
  return planSteps(parseScenario(text, 't.yaml')).map((p) => p.step)
}

const [docPing, checkPing, wirePing, reachable, erratumPing] = steps(
  '{ on: host01, run: ip netns exec ns1 ping -c 1 10.0.2.100, added: true, expect: { reachable: false } }',
  'check: { ping: { from: host01/ns1, to: 10.0.1.1, reachable: false } }',
  '{ on: host01, run: ping -c 1 -I veth0 1.2.3.102, added: true, expect: { reachable: false }, wire: [{ on: "host01:veth1", filter: arp, match: { proto: arp, arp: reply }, max: 0 }] }',
  'check: { ping: { from: host01/ns1, to: 10.0.1.1 } }',
  '{ on: host01, run: ping -c 1 10.0.9.9, added: true, expect: { reachable: false }, erratum: { corrected: "true", why: x } }',
)

describe('"no reply" claims', () => {
  test('a document ping or a ping check expected to get no reply, with the address that must not answer', () => {
    expect(noReplyClaim(docPing!)).toEqual({ to: '10.0.2.100', captures: false })
    expect(noReplyClaim(checkPing!)).toEqual({ to: '10.0.1.1', captures: false })
    expect(noReplyClaim(wirePing!)).toEqual({ to: '1.2.3.102', captures: true })
  })

  test('not a claim: a ping expected to answer, a ping with a correction', () => {
    expect(noReplyClaim(reachable!)).toBeUndefined()
    expect(noReplyClaim(erratumPing!)).toBeUndefined()
  })
})

describe('what may run while a claim waits', () => {
  const pending = [{ to: '10.0.2.100', captures: false }]
  const [link, route, natCheck, addRoute, show, showStats, neigh, cat, piped] = steps(
    'check: { link: { on: host01, name: veth0, state: up } }',
    'check: { route: { on: host01/ns1, dst: 10.0.2.0/24, dev: v1 } }',
    'check: { nat: { from: host01/ns1, to: 8.8.8.8, masqueraded: true } }',
    '{ on: host01, run: ip netns exec ns1 ip route add 10.0.2.0/24 dev v1, added: true }',
    '{ on: host01, run: ip netns exec ns1 ip addr show v1, added: true }',
    '{ on: host01, run: ip -s link show v1, added: true }',
    '{ on: host01, run: ip neigh show, added: true }',
    '{ on: host01, run: cat /proc/sys/net/ipv4/ip_forward, added: true }',
    '{ on: host01, run: ip addr show | grep inet, added: true }',
  )

  test('nothing waits when no claim is pending', () => {
    expect(mayRunAhead(addRoute!, [], 0)).toBe(true)
  })

  test('checks and commands that only read configuration run ahead', () => {
    for (const s of [link, route, show, cat]) expect(mayRunAhead(s!, pending, 0)).toBe(true)
  })

  test('what changes the hosts, sends packets or reads what traffic changes waits', () => {
    for (const s of [natCheck, addRoute, showStats, neigh, piped, reachable, wirePing]) expect(mayRunAhead(s!, pending, 0)).toBe(false)
  })

  test('another claim runs ahead only to another address, and neither carries captures of its own', () => {
    expect(mayRunAhead(checkPing!, pending, 0)).toBe(true)
    expect(mayRunAhead(docPing!, pending, 0)).toBe(false)
    expect(mayRunAhead(checkPing!, [{ to: '10.9.9.9', captures: true }], 0)).toBe(false)
  })

  test('a scenario with captures of its own never runs ahead', () => {
    expect(mayRunAhead(link!, pending, 1)).toBe(false)
  })
})

describe('document commands that only read configuration', () => {
  test.each([
    'ip a', 'ip addr', 'ip -4 addr show dev v1', 'ip -br link', 'ip link show veth0', 'ip -d link show tun0', 'ip route', 'ip r show table main',
    'ip rule', 'ip netns', 'ip netns list', 'ip netns exec ns1 ip route', 'route -n', 'iptables -L -n', 'iptables -t nat -S', 'iptables -nL FORWARD',
    'bridge link', 'bridge link show', 'brctl show', 'sysctl net.ipv4.ip_forward', 'sysctl -n net.ipv4.ip_forward', 'cat /proc/sys/net/ipv4/ip_forward',
  ])('%s', (c) => expect(readsConfigOnly(c)).toBe(true))

  test.each([
    'ip link set v1 up', 'ip route add 10.0.0.0/8 dev v1', 'ip netns add ns1', 'ip netns exec ns1 ping 10.0.0.1', 'ip neigh', 'ip -s link', 'ip route get 1.1.1.1',
    'iptables -L -n -v', 'iptables -A FORWARD -j ACCEPT', 'iptables -F', 'iptables -nvL', 'bridge fdb show', 'brctl showmacs br0', 'sysctl -w net.ipv4.ip_forward=1',
    'sysctl net.ipv4.ip_forward=1', 'cat /proc/net/dev', 'ifconfig', 'tcpdump -n -i veth1', 'route add default gw 10.0.0.1', 'echo 1 > /proc/sys/net/ipv4/ip_forward',
    'ip addr show; ip link set v1 down', 'cat /proc/sys/net/ipv4/ip_forward && reboot',
  ])('%s', (c) => expect(readsConfigOnly(c)).toBe(false))
})
