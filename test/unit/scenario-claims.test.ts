// Claims in a scenario (CLAIMS.md): what the loader accepts and what it refuses, with the file,
// line, column and field of the mistake.
import { describe, expect, test } from 'vitest'
import { parseScenario, ScenarioError } from '../../harness/scenario/loader.ts'

const HEAD = `id: t
title: T
source: { doc: x.txt, section: s }
`

function loadError(yaml: string): ScenarioError {
  try {
    parseScenario(yaml, 'bad.yaml')
  } catch (e) {
    if (e instanceof ScenarioError) return e
    throw e
  }
  throw new Error('the scenario loaded, but it is malformed')
}

const GOOD = `${HEAD}claims:
  - id: host-unreachable
    line: 57
    says: a namespace cannot reach the host before the bridge has an address
    holds: true
  - id: ping-blamed-on-bridge
    lines: [60, 62]
    says: the ping fails because of the bridge
    holds: false
    correction: the kernel drops the reply as a martian source
    why: the source address is local to the receiving host
  - id: vmware-nat
    line: 12
    says: VMware's NAT hands out the address
    holds: true
    untestable: it is about the author's VMware NAT, which no host here has
  - id: never-tested
    line: 80
    says: something nobody checks yet
    holds: true
steps:
  - on: host01
    run: ip netns exec ns1 ping -c 1 192.168.17.10
    expect: { exitCode: any }
    claims: [host-unreachable]
  - check: { ping: { from: host01, to: 10.0.0.1 } }
    claims: [host-unreachable, ping-blamed-on-bridge]
`

describe('claims that load', () => {
  test('claims at the top and on run and check steps load as written', () => {
    const s = parseScenario(GOOD, 'ok.yaml')
    expect(s.claims?.map((c) => c.id)).toEqual(['host-unreachable', 'ping-blamed-on-bridge', 'vmware-nat', 'never-tested'])
    expect(s.claims?.[1]).toMatchObject({ lines: [60, 62], holds: false, correction: expect.stringContaining('martian') })
    expect(s.steps[0]).toMatchObject({ claims: ['host-unreachable'] })
    expect(s.steps[1]).toMatchObject({ claims: ['host-unreachable', 'ping-blamed-on-bridge'] })
  })

  test('a scenario without claims still loads (the field is optional)', () => {
    const s = parseScenario(`${HEAD}steps:\n  - { on: host01, run: ls }\n`, 'ok.yaml')
    expect(s.claims).toBeUndefined()
  })
})

const claim = (body: string) => `${HEAD}claims:\n  - id: c1\n${body}steps:\n  - { on: host01, run: ls }\n`

const CASES: [string, string, RegExp][] = [
  ['a claim id that is not kebab-case', `${HEAD}claims:\n  - { id: Host_Down, line: 3, says: x, holds: true }\nsteps:\n  - { on: host01, run: ls }\n`,
    /^bad\.yaml:5:11: claims\[0\]\.id: a claim id in kebab-case/],
  ['a claim without line or lines', claim('    says: x\n    holds: true\n'), /^bad\.yaml:5:5: claims\[0\]: a claim needs `line:`/],
  ['a claim with both line and lines', claim('    line: 3\n    lines: [3, 4]\n    says: x\n    holds: true\n'), /^bad\.yaml:7:12: claims\[0\]\.lines: give `line:` or `lines:`, not both/],
  ['a span that runs backwards', claim('    lines: [9, 4]\n    says: x\n    holds: true\n'), /^bad\.yaml:6:12: claims\[0\]\.lines: the first line \(9\) is after the last \(4\)/],
  ['line 0', claim('    line: 0\n    says: x\n    holds: true\n'), /^bad\.yaml:6:11: claims\[0\]\.line: a document line: 1 or more/],
  ['a line past 10000', claim('    line: 10001\n    says: x\n    holds: true\n'), /^bad\.yaml:6:11: claims\[0\]\.line: a document line: at most 10000/],
  ['a claim without says', claim('    line: 3\n    holds: true\n'), /claims\[0\]\.says: missing required field/],
  ['a claim without holds', claim('    line: 3\n    says: x\n'), /claims\[0\]\.holds: missing required field/],
  ['holds: false without correction', claim('    line: 3\n    says: x\n    holds: false\n    why: because\n'), /^bad\.yaml:5:5: claims\[0\]\.correction: a claim with holds: false needs `correction:`/],
  ['holds: false without why', claim('    line: 3\n    says: x\n    holds: false\n    correction: y\n'), /claims\[0\]\.why: a claim with holds: false needs `why:`/],
  ['an unknown claim field', claim('    line: 3\n    says: x\n    holds: true\n    quote: the text\n'), /^bad\.yaml:9:5: claims\[0\]\.quote: unknown field "quote"/],
  ['a duplicate claim id', `${HEAD}claims:\n  - { id: c1, line: 3, says: x, holds: true }\n  - { id: c1, line: 4, says: y, holds: true }\nsteps:\n  - { on: host01, run: ls }\n`,
    /^bad\.yaml:6:11: claims\[1\]\.id: claim id "c1" is used twice/],
  ['a step naming an unknown claim', `${HEAD}claims:\n  - { id: c1, line: 3, says: x, holds: true }\nsteps:\n  - on: host01\n    run: ls\n    claims: [c1, c2]\n`,
    /^bad\.yaml:9:18: steps\[0\]\.claims\[1\]: no claim "c2" in this scenario's claims: \(its claims: c1\)/],
  ['a check naming a claim when there are none', `${HEAD}steps:\n  - check: { ping: { from: host01, to: 10.0.0.1 } }\n    claims: [c1]\n`,
    /^bad\.yaml:6:14: steps\[0\]\.claims\[0\]: no claim "c1" .*\(it has none\)/],
  ['a step linked to an untestable claim', `${HEAD}claims:\n  - { id: c1, line: 3, says: x, holds: true, untestable: no VMware here }\nsteps:\n  - on: host01\n    run: ls\n    claims: [c1]\n`,
    /^bad\.yaml:9:14: steps\[0\]\.claims\[0\]: claim "c1" is marked untestable/],
  ['claims on a section step', `${HEAD}steps:\n  - section: Part 1\n    claims: [c1]\n  - { on: host01, run: ls }\n`, /steps\[0\]\.claims: unknown field "claims"/],
  ['an empty claims list on a step', `${HEAD}claims:\n  - { id: c1, line: 3, says: x, holds: true }\nsteps:\n  - { on: host01, run: ls, claims: [] }\n`, /steps\[0\]\.claims: Too small/],
]

describe('a malformed claim names the file, line, column and field', () => {
  test.each(CASES)('%s', (_name, yaml, message) => {
    expect(loadError(yaml).message).toMatch(message)
  })
})
