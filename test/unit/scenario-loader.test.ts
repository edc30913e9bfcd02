// Malformed scenario files fail with the file, line and field named, and what to do.
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { CHECK_KIND_NAMES } from '../../harness/checks/index.ts'
import { parseScenario, ScenarioError, selectScenarios } from '../../harness/scenario/loader.ts'
import { loadScenarios } from '../../harness/scenario/loader.ts'

const SCENARIO_DIR = fileURLToPath(new URL('../../scenarios/', import.meta.url))

const HEAD = `id: t
title: T
source: { doc: x.txt, section: s }
steps:
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

const CASES: [string, string, RegExp][] = [
  ['not YAML at all', `${HEAD}  - on: host01\n    run: [unclosed\n`, /^bad\.yaml:\d+:\d+: not valid YAML/],
  ['a tab-indented mapping', `id: t\n\ttitle: T\n`, /^bad\.yaml:2:\d+: not valid YAML/],
  ['a duplicate key', `id: t\nid: u\n`, /^bad\.yaml:2:1: not valid YAML: Map keys must be unique/],
  ['missing id', `title: T\nsource: { doc: x.txt, section: s }\nsteps:\n  - { on: host01, run: ls }\n`, /^bad\.yaml:1:1: id: missing required field/],
  ['missing steps', `id: t\ntitle: T\nsource: { doc: x.txt, section: s }\n`, /steps: missing required field/],
  ['empty steps', `id: t\ntitle: T\nsource: { doc: x.txt, section: s }\nsteps: []\n`, /^bad\.yaml:4:8: steps: Too small/],
  ['an id with capitals', `id: Bad_Id\ntitle: T\nsource: { doc: x.txt, section: s }\nsteps:\n  - { on: host01, run: ls }\n`, /^bad\.yaml:1:5: id: lowercase letters, digits and dashes/],
  ['an unknown top-level field', `${HEAD}  - { on: host01, run: ls }\nauthor: me\n`, /^bad\.yaml:6:1: author: unknown field "author"/],
  ['an unknown step field', `${HEAD}  - on: host01\n    run: ls\n    expct: { exitCode: 0 }\n`, /^bad\.yaml:7:5: steps\[0\]\.expct: unknown field "expct"/],
  ['a step with neither run nor check', `${HEAD}  - on: host01\n`, /^bad\.yaml:5:5: steps\[0\]: a step needs `run:`/],
  ['a run step without on', `${HEAD}  - run: ls\n`, /steps\[0\]\.on: missing required field/],
  ['an empty command', `${HEAD}  - { on: host01, run: "" }\n`, /steps\[0\]\.run: Too small/],
  ['a malformed target', `${HEAD}  - { on: "Host 01", run: ls }\n`, /steps\[0\]\.on: a host like host01/],
  ['an unknown host in on', `${HEAD}  - { on: host03/ns1, run: ls }\n`, /^bad\.yaml:5:11: steps\[0\]\.on: unknown host "host03"; this scenario's hosts are host01, host02, gateway, internet/],
  ['an unknown host in a check', `${HEAD}  - check: { ping: { from: hots01, to: 10.0.0.1 } }\n`, /steps\[0\]\.check\.ping\.from: unknown host "hots01"/],
  ['a check of an unknown kind', `${HEAD}  - check: { pong: { from: host01, to: 10.0.0.1 } }\n`, new RegExp(`^bad\\.yaml:5:14: steps\\[0\\]\\.check\\.pong: unknown field "pong" \\(check kinds: ${CHECK_KIND_NAMES.join(', ')}\\)`)],
  ['a check naming two kinds', `${HEAD}  - check: { ping: { from: host01, to: 10.0.0.1 }, sysctl: { on: host01, key: a.b, value: 1 } }\n`, /steps\[0\]\.check: a check names exactly one kind/],
  ['a TTL that is not a number', `${HEAD}  - check: { ping: { from: host01, to: 10.0.0.1, ttl: sixty } }\n`, /^bad\.yaml:5:55: steps\[0\]\.check\.ping\.ttl: Invalid input: expected number, received string/],
  ['a TTL out of range', `${HEAD}  - check: { ping: { from: host01, to: 10.0.0.1, ttl: 300 } }\n`, /steps\[0\]\.check\.ping\.ttl: Too big/],
  ['an address that is not IPv4', `${HEAD}  - check: { ping: { from: host01, to: 10.0.0 } }\n`, /steps\[0\]\.check\.ping\.to: an IPv4 address/],
  ['an unknown kernel feature', `${HEAD}  - { on: host01, run: ls, requires: { kernel: [wireguard] } }\n`, /steps\[0\]\.requires\.kernel\[0\]: Invalid option: expected one of "veth"\|"bridge"/],
  ['an unknown tool', `${HEAD}  - { on: host01, run: ls, requires: { tools: [nmap] } }\n`, /steps\[0\]\.requires\.tools\[0\]: Invalid option/],
  ['a bridge port state that does not exist', `${HEAD}  - check: { bridge: { on: host01, name: br0, ports: { veth0: up } } }\n`, /steps\[0\]\.check\.bridge\.ports\.veth0: Invalid option: expected one of "forwarding"/],
  ['an erratum without its correction', `${HEAD}  - on: host01\n    run: ls\n    erratum: { why: typo }\n`, /steps\[0\]\.erratum\.corrected: missing required field/],
  ['a host underlay without prefix', `id: t\ntitle: T\nsource: { doc: x.txt, section: s }\nhosts: { host01: { underlay: 192.168.21.11 } }\nsteps:\n  - { on: host01, run: ls }\n`, /^bad\.yaml:4:30: hosts\.host01\.underlay: an address with prefix/],
  ['a capture on an unknown host', `${HEAD}  - { on: host01, run: ls, capture: [{ on: "hostx:eth0" }] }\n`, /unknown host "hostx"/],
  ['a negative timeout', `${HEAD}  - { on: host01, run: ls, timeoutMs: -5 }\n`, /steps\[0\]\.timeoutMs: Too small/],
]

describe('a malformed scenario names the file, line, field and problem', () => {
  test.each(CASES)('%s', (_name, yaml, message) => {
    expect(loadError(yaml).message).toMatch(message)
  })
})

describe('well-formed scenarios', () => {
  test('a minimal scenario loads with defaults filled in', () => {
    const s = parseScenario(`${HEAD}  - { on: host01/ns1, run: ip link }\n  - check: { ping: { from: host01, to: 10.0.0.1 } }\n`, 'ok.yaml')
    expect(s.requires).toEqual({ kernel: [], tools: [] })
    expect(s.steps[1]).toEqual({ check: { ping: { from: host01(), to: '10.0.0.1', reachable: true, count: 3 } } })
  })

  test('every shipped scenario file loads, each with an id of its own', async () => {
    const all = await loadScenarios(SCENARIO_DIR)
    const files = readdirSync(SCENARIO_DIR).filter((f) => /\.ya?ml$/.test(f))
    expect(all.length).toBe(files.length)
    expect(new Set(all.map((s) => s.id)).size).toBe(files.length)
  })

  test('an unknown scenario id is refused with the known ids', async () => {
    const all = await loadScenarios()
    expect(() => selectScenarios(all, ['nope'])).toThrow(/no scenario with id "nope"; known scenarios: .*namespace-routing/)
  })
})

function host01(): string {
  return 'host01'
}
