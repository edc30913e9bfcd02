// Where distros really differ, a step states each behaviour precisely (`variants`) and the
// command must show one of them. Fixtures are what the commands printed in the docker lab images
// (bullseye iproute2 5.9 / iptables 1.8.7, bookworm 6.1 / 1.8.9, trixie 6.15 / 1.8.11).
import { describe, expect, test } from 'vitest'
import type { ExecResult } from '../../harness/host.ts'
import { parseScenario } from '../../harness/scenario/loader.ts'
import { assertExpectation } from '../../harness/scenario/run-step.ts'
import type { Expectation } from '../../harness/scenario/schema.ts'

const HEAD = `id: t
title: T
source: { doc: x.txt, section: s }
steps:
`

function loadExpect(expectYaml: string): Expectation {
  const s = parseScenario(`${HEAD}  - on: host01\n    run: ip netns exec netns0 ip route\n    expect:\n${expectYaml}`, 't.yaml')
  return (s.steps[0] as { expect: Expectation }).expect
}

function result(exitCode: number, stdout: string, stderr = ''): ExecResult {
  return { host: 'host01', command: 'c', exitCode, stdout, stderr, ms: 1 }
}

const IP_ROUTE = loadExpect(`      variants:
        - when: nothing printed (iproute2 6.1)
          empty: true
        - when: the missing table passed on (iproute2 5.9)
          exitCode: 2
          matches: "^Error: ipv4: FIB table does not exist\\\\.\\\\nDump terminated$"
`)

const IPTABLES_DPORT = loadExpect(`      exitCode: 2
      variants:
        - when: whole word (1.8.9)
          matches: "^iptables v[\\\\d.]+ \\\\(\\\\w+\\\\): host/network \`-dport' not found$"
        - when: the -d host (1.8.7, 1.8.11)
          matches: "^iptables v[\\\\d.]+ \\\\(\\\\w+\\\\): host/network \`port' not found$"
`)

const FIB_ERROR = 'Error: ipv4: FIB table does not exist.\nDump terminated\n'
const TRY_HELP = "Try `iptables -h' or 'iptables --help' for more information.\n"

describe('expect.variants', () => {
  test('each real behaviour passes and is named', () => {
    const check = (r: ExecResult) => assertExpectation(r, IP_ROUTE, false, false, 'ip route', 'host01')
    expect(check(result(0, ''))).toBe('nothing printed (iproute2 6.1)')
    expect(check(result(2, '', FIB_ERROR))).toBe('the missing table passed on (iproute2 5.9)')
  })

  test('a behaviour no variant describes fails, listing every variant', () => {
    const check = (r: ExecResult) => () => assertExpectation(r, IP_ROUTE, false, false, 'ip route', 'host01')
    // A route where the document says there is none.
    expect(check(result(0, 'default via 10.0.1.1 dev veth0\n'))).toThrow(/to behave as one of:[\s\S]*nothing printed[\s\S]*no output at all[\s\S]*missing table passed on/)
    // The error text with the other variant's exit code is neither.
    expect(check(result(0, '', FIB_ERROR))).toThrow(/none of them/)
    expect(check(result(2, ''))).toThrow(/none of them:[\s\S]*: exit 2/)
  })

  test('fields beside variants hold for every variant', () => {
    const check = (r: ExecResult) => assertExpectation(r, IPTABLES_DPORT, false, false, 'iptables', 'host01')
    expect(check(result(2, '', `iptables v1.8.9 (nf_tables): host/network \`-dport' not found\n${TRY_HELP}`))).toBe('whole word (1.8.9)')
    expect(check(result(2, '', `iptables v1.8.11 (nf_tables): host/network \`port' not found\n${TRY_HELP}`))).toBe('the -d host (1.8.7, 1.8.11)')
    expect(() => check(result(1, '', `iptables v1.8.11 (nf_tables): host/network \`port' not found\n`))).toThrow(/exit 2/)
  })

  test('a field given both beside and in a variant is refused with its place', () => {
    expect(() => loadExpect(`      exitCode: 2
      variants:
        - { when: a, exitCode: 1 }
        - { when: b, empty: true }
`)).toThrow(/steps\[0\]\.expect\.variants\[0\]\.exitCode: "exitCode" is also given beside variants/)
  })

  test('a variant must say which hosts it describes', () => {
    expect(() => loadExpect(`      variants:
        - { empty: true }
        - { when: b, exitCode: 2 }
`)).toThrow(/variants\[0\]\.when/)
  })
})

describe('expect.empty', () => {
  const empty = loadExpect('      empty: true\n')
  test('passes only when nothing at all is printed', () => {
    expect(assertExpectation(result(0, ''), empty, false, false, 'c', 'host01')).toBeUndefined()
    expect(() => assertExpectation(result(0, '\n'), empty, false, false, 'c', 'host01')).toThrow(/no output at all/)
    expect(() => assertExpectation(result(0, '', 'warning\n'), empty, false, false, 'c', 'host01')).toThrow(/no output at all/)
  })
})
