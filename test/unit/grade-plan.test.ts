// What grading can judge on one machine from the state as found, and what it leaves out.
import { describe, expect, test } from 'vitest'
import { maxScore, planGrading } from '../../harness/grade/plan.ts'
import { loadScenarios, parseScenario, selectScenarios, type LoadedScenario } from '../../harness/scenario/loader.ts'
import { topologyOf } from '../../harness/scenario/plan.ts'

const [namespaceRouting, vethBridgeNat] = selectScenarios(await loadScenarios(), ['namespace-routing', 'veth-bridge-nat']) as [LoadedScenario, LoadedScenario]
const plan = (s: LoadedScenario, role = 'host01') => planGrading(s, topologyOf(s), role)

describe('namespace-routing graded on host01', () => {
  const p = plan(namespaceRouting)

  test('checks of the finished lab are graded; checks of the lab midway are not', () => {
    expect(p.map((c) => [c.title, c.needsSetup ? 'needs setup' : `${c.points} pt`])).toEqual([
      ['link v1 on host01/ns1', 'needs setup'], // down, before it is configured
      ['link v1 on host01 absent', '1 pt'],
      ['link v1 on host01/ns1', '1 pt'],
      ['link v2 on host01/ns2', '1 pt'],
      ['net.ipv4.ip_forward = 1 on host01', '1 pt'],
      ['no route 10.10.20.0/24 on host01/ns1', 'needs setup'], // before the route is added
      ['route 10.10.20.0/24 via 10.10.10.1 dev v1 on host01/ns1', '1 pt'],
      ['route 10.10.10.0/24 via 10.10.20.1 dev v2 on host01/ns2', '1 pt'],
      ['ping 10.10.20.2 from host01/ns1 (ttl 63)', '2 pt'],
      ['ping 10.10.10.2 from host01/ns2 (ttl 63)', '2 pt'],
    ])
    expect(p[0]!.needsSetup).toBe(`describes the lab midway: step ${p[2]!.step} checks the same thing as it must be once the lab is finished, and a finished lab is graded on its final state`)
    expect(maxScore(p)).toBe(10)
  })

  test('hints come from the scenario', () => {
    expect(p.find((c) => c.title.startsWith('route 10.10.10.0/24'))!.hint).toMatch(/^ns2 has no route to 10\.10\.10\.0\/24: add one via 10\.10\.20\.1/)
  })

  test('as host02, every check is on a machine the grading does not control', () => {
    const as2 = plan(namespaceRouting, 'host02')
    expect(as2.every((c) => c.needsSetup === `runs on host01, a machine this grading does not control (the student's machine plays host02)`)).toBe(true)
    expect(maxScore(as2)).toBe(0)
  })
})

test('veth-bridge-nat: nat checks need the simulated internet, and are left out', () => {
  const p = plan(vethBridgeNat)
  const nat = p.filter((c) => c.kind === 'nat')
  expect(nat).toHaveLength(2)
  for (const c of nat) expect(c.needsSetup).toMatch(/^needs the lab's simulated internet host \(8\.8\.8\.8\)/)
  expect(maxScore(p)).toBe(7)
})

test('pings to the internet host or another node are left out; pings inside the machine are graded', () => {
  const s = parseScenario([
    'id: pings', 'title: pings', 'source: { doc: x.txt, section: s }', 'steps:',
    '  - { on: host01, run: ip netns add ns1 }',
    '  - check: { ping: { from: host01, to: 8.8.8.8 } }',
    '  - check: { ping: { from: host01, to: 192.168.21.12 } }',
    '  - check: { ping: { from: host01, to: 192.168.21.1 } }',
    '  - check: { ping: { from: host01/ns1, to: 10.0.0.1 } }',
    '  - check: { sysctl: { on: host02, key: net.ipv4.ip_forward, value: 1 } }',
  ].join('\n'), 'pings.yaml')
  expect(plan(s).map((c) => c.needsSetup ?? 'graded')).toEqual([
    "pings 8.8.8.8, the lab's simulated internet host; from a real machine that would be the real internet",
    'pings 192.168.21.12, the address of host02, a machine this grading does not control',
    'pings 192.168.21.1, the address of gateway, a machine this grading does not control',
    'graded',
    "runs on host02, a machine this grading does not control (the student's machine plays host01)",
  ])
})
