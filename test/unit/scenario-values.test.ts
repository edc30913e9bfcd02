// Values that reach a shell or the kernel are checked at load, and a scenario too big to be a
// lab is refused before it is expanded: each as one line `file:line:column: field: why`.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { loadConfig } from '../../harness/config.ts'
import { resolveLimits, type ScenarioLimits } from '../../harness/scenario/limits.ts'
import { loadScenarioFile, parseScenario, ScenarioError } from '../../harness/scenario/loader.ts'
import { buildTopology } from '../../harness/topology.ts'

const HEAD = `id: t
title: T
source: { doc: x.txt, section: s }
`
const STEP = `steps:\n  - { on: host01, run: ls }\n`

function loadError(yaml: string, file = 'bad.yaml'): string {
  return loadErrorWith(yaml, file)
}

function loadErrorWith(yaml: string, file: string, limits?: ScenarioLimits): string {
  try {
    parseScenario(yaml, file, limits)
  } catch (e) {
    if (e instanceof ScenarioError) return e.message
    throw e
  }
  throw new Error('the scenario loaded')
}

const REFUSED: [string, string, RegExp][] = [
  ['a shell command pasted into the interface name', `${HEAD}underlay: { interface: "ens33; touch /tmp/pwn #" }\n${STEP}`,
    /^bad\.yaml:4:24: underlay\.interface: "ens33; touch \/tmp\/pwn #" is 23 bytes; an interface name has at most 15 \(IFNAMSIZ\)$/],
  ['a short interface name with a metacharacter', `${HEAD}underlay: { interface: "e;id" }\n${STEP}`, /^bad\.yaml:4:24: underlay\.interface: ";" is not allowed in an interface name/],
  ['an interface name of 16 bytes', `${HEAD}underlay: { interface: abcdefghijklmnop }\n${STEP}`, /underlay\.interface: .*at most 15 \(IFNAMSIZ\)/],
  ['an interface named ..', `${HEAD}underlay: { interface: ".." }\n${STEP}`, /underlay\.interface: "\.\." is not an interface name/],
  ['an octet over 255', `${HEAD}hosts: { host01: { underlay: 999.1.1.1/24 } }\n${STEP}`, /^bad\.yaml:4:30: hosts\.host01\.underlay: "999\.1\.1\.1" is not an IPv4 address: 999 is more than 255$/],
  ['a leading zero', `${HEAD}hosts: { host01: { underlay: 192.168.021.11/24 } }\n${STEP}`, /hosts\.host01\.underlay: .*write 21, not 021/],
  ['a prefix over 32', `${HEAD}hosts: { host01: { underlay: 10.0.0.1/33 } }\n${STEP}`, /hosts\.host01\.underlay: .*a prefix is 0 to 32, not 33/],
  ['a host address that is the network', `${HEAD}hosts: { host01: { underlay: 192.168.21.0/24 } }\n${STEP}`, /hosts\.host01\.underlay: "192\.168\.21\.0\/24" is the network's own address; a host needs one of 192\.168\.21\.1–192\.168\.21\.254/],
  ['a host address that is the broadcast', `${HEAD}hosts: { host01: { underlay: 192.168.21.255/24 } }\n${STEP}`, /is the network's broadcast address/],
  ['hosts on two subnets', `${HEAD}hosts: { host01: { underlay: 10.0.0.1/24 }, host02: { underlay: 10.0.1.2/24 } }\n${STEP}`, /^bad\.yaml:4:65: hosts\.host02\.underlay: host02 \(10\.0\.1\.2\/24\) is not on the underlay subnet of host01/],
  ['two hosts with one address', `${HEAD}hosts: { host01: { underlay: 10.0.0.1/24 }, host02: { underlay: 10.0.0.1/24 } }\n${STEP}`, /hosts\.host02\.underlay: host02 has the address 10\.0\.0\.1 of host01/],
  ['a gateway outside the underlay', `${HEAD}underlay: { gateway: 10.9.9.1 }\n${STEP}`, /^bad\.yaml:4:22: underlay\.gateway: 10\.9\.9\.1 is outside the underlay subnet 192\.168\.21\.0\/24/],
  ['a gateway that is a host', `${HEAD}underlay: { gateway: 192.168.21.11 }\n${STEP}`, /underlay\.gateway: 192\.168\.21\.11 is the address of host01/],
  ['a 100-character hostname', `${HEAD}hosts: { host01: { hostname: ${'a'.repeat(100)} } }\n${STEP}`, /^bad\.yaml:4:30: hosts\.host01\.hostname: "a{20}…" is 100 characters; a host name has at most 63$/],
  ['a hostname with a metacharacter', `${HEAD}hosts: { host01: { hostname: "h$(id)" } }\n${STEP}`, /hosts\.host01\.hostname: "\$" is not allowed in a host name \(RFC 1123/],
  ['a hostname label ending with -', `${HEAD}hosts: { host01: { hostname: "web-.lab" } }\n${STEP}`, /the label "web-" .* starts or ends with "-"/],
  ['a host key too long for port-NAME', `${HEAD}hosts: { host0123456: { underlay: 192.168.21.13/24 } }\n${STEP}`, /^bad\.yaml:4:23: hosts\.host0123456: a host name like host01: a lowercase letter, then at most 9/],
  ['a namespace with a metacharacter', `${HEAD}steps:\n  - { on: "host01/ns1;id", run: ls }\n`, /^bad\.yaml:5:11: steps\[0\]\.on: ";" is not allowed in a namespace name/],
  ['a namespace named ..', `${HEAD}steps:\n  - { on: "host01/..", run: ls }\n`, /steps\[0\]\.on: "\.\." is not a namespace name/],
  ['a capture on an interface with a metacharacter', `${HEAD}capture: [{ on: "host01:ens33$(id)" }]\n${STEP}`, /capture\[0\]\.on: host\[\/namespace\]:interface/],
  ['a capture interface too long', `${HEAD}capture: [{ on: "host01:abcdefghijklmnop" }]\n${STEP}`, /capture\[0\]\.on: .*at most 15/],
  ['a wire claim on an unknown host', `${HEAD}steps:\n  - on: host01\n    run: ls\n    wire: [{ on: "host09:ens33", match: { proto: icmp } }]\n`, /^bad\.yaml:7:18: steps\[0\]\.wire\[0\]\.on: unknown host "host09"/],
  ['a route destination with host bits', `${HEAD}steps:\n  - check: { route: { on: host01, dst: 10.10.20.5/24 } }\n`, /steps\[0\]\.check\.route\.dst: "10\.10\.20\.5\/24" has host bits set; the network is 10\.10\.20\.0\/24/],
  ['a link name with a metacharacter', `${HEAD}steps:\n  - check: { link: { on: host01, name: "v1;id" } }\n`, /steps\[0\]\.check\.link\.name: ";" is not allowed in an interface name/],
  ['a ping interface with a metacharacter', `${HEAD}steps:\n  - check: { ping: { from: host01, to: 10.0.0.1, interface: "\`id\`" } }\n`, /steps\[0\]\.check\.ping\.interface: "`" is not allowed/],
  ['a NUL in a command', `${HEAD}steps:\n  - { on: host01, run: "echo a\\0b" }\n`, /^bad\.yaml:5:24: steps\[0\]\.run: the control character U\+0000 \(NUL\) at line 1, column 7 of the command/],
  ['an escape character on the second line of a command', `${HEAD}steps:\n  - on: host01\n    run: "echo a\\necho \\eb"\n`, /steps\[0\]\.run: the control character U\+001B \(ESC\) at line 2, column 6 of the command/],
  ['a NUL in a correction', `${HEAD}steps:\n  - on: host01\n    run: ls\n    erratum: { corrected: "ls\\0", why: w }\n`, /steps\[0\]\.erratum\.corrected: the control character U\+0000 \(NUL\)/],
]

describe('a value that could reach a shell or the kernel wrong is refused at load, with file, line, column and field', () => {
  test.each(REFUSED)('%s', (_name, yaml, message) => {
    expect(loadError(yaml)).toMatch(message)
  })

  test('tabs and newlines in a command are fine', () => {
    expect(parseScenario(`${HEAD}steps:\n  - on: host01\n    run: "printf 'a\\tb'\\necho c"\n`, 'ok.yaml').steps).toHaveLength(1)
  })

  test('buildTopology refuses the same values for callers that skip the schema', () => {
    expect(() => buildTopology({ interface: 'ens33; touch /tmp/pwn #' })).toThrow(/^underlay\.interface: .*IFNAMSIZ/)
    expect(() => buildTopology({ hosts: { host01: { hostname: 'a b' } } })).toThrow(/hosts\.host01\.hostname: a space is not allowed/)
    expect(() => buildTopology({ gateway: '10.0.0.1' })).toThrow(/underlay\.gateway: 10\.0\.0\.1 is outside the underlay subnet/)
  })
})

describe('limits: a scenario file at most 1 MiB and 2,000 steps by default', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'labproof-limits-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })
  const saved = { ...process.env }
  afterAll(() => {
    process.env = saved
  })

  const steps = (n: number) => `${HEAD}steps:\n${'  - { on: host01, run: "true" }\n'.repeat(n)}`

  test('2,000 steps load; 2,001 are refused at the steps field, before they are expanded', () => {
    expect(parseScenario(steps(2000), 'big.yaml').steps).toHaveLength(2000)
    expect(loadError(steps(2001), 'big.yaml')).toBe('big.yaml:5:3: steps: 2001 steps; a scenario has at most 2000 (the default; raise it with --max-steps N, LABPROOF_MAX_STEPS or "maxSteps" in labproof.config.*)')
  })

  test('LABPROOF_MAX_STEPS raises the step limit, and a refusal then names it', () => {
    process.env.LABPROOF_MAX_STEPS = '3000'
    try {
      expect(parseScenario(steps(2001), 'big.yaml').steps).toHaveLength(2001)
      expect(loadError(steps(3001), 'big.yaml')).toBe('big.yaml:5:3: steps: 3001 steps; a scenario has at most 3000 (the limit set by LABPROOF_MAX_STEPS; raise it there or with --max-steps N, LABPROOF_MAX_STEPS or "maxSteps" in labproof.config.*)')
    } finally {
      delete process.env.LABPROOF_MAX_STEPS
    }
  })

  test('a file over 1 MiB is refused by its size, naming the file; LABPROOF_MAX_SCENARIO_BYTES raises the limit', async () => {
    const file = path.join(dir, 'huge.yaml')
    await writeFile(file, `${HEAD}${STEP}# ${'x'.repeat(1024 * 1024)}\n`)
    await expect(loadScenarioFile(file)).rejects.toThrow(/huge\.yaml:1:1: the file is 1\.0 MiB; a scenario file has at most 1 MiB \(the default; raise it with --max-scenario-bytes N, LABPROOF_MAX_SCENARIO_BYTES or "maxScenarioBytes" in labproof\.config\.\*\)$/)
    process.env.LABPROOF_MAX_SCENARIO_BYTES = String(2 * 1024 * 1024)
    try {
      expect((await loadScenarioFile(file)).id).toBe('t')
    } finally {
      delete process.env.LABPROOF_MAX_SCENARIO_BYTES
    }
  })

  test('the config file sets the limits, and a refusal names its file and line', async () => {
    await writeFile(path.join(dir, 'labproof.config.yaml'), 'backend: netns\nmaxSteps: 10\nmaxScenarioBytes: 1000\n')
    const config = loadConfig(dir)
    expect(config.limits).toEqual({ steps: { value: 10, at: 'labproof.config.yaml:2' }, bytes: { value: 1000, at: 'labproof.config.yaml:3' } })
    const limits = resolveLimits({ env: {}, config: config.limits! })
    expect(loadErrorWith(steps(11), 'x.yaml', limits)).toBe('x.yaml:5:3: steps: 11 steps; a scenario has at most 10 (the limit set by labproof.config.yaml:2; raise it there or with --max-steps N, LABPROOF_MAX_STEPS or "maxSteps" in labproof.config.*)')
    expect(loadErrorWith(`${HEAD}${STEP}# ${'x'.repeat(1000)}\n`, 'x.yaml', limits)).toMatch(/^x\.yaml:1:1: the file is \d+ KiB; a scenario file has at most 1000 bytes \(the limit set by labproof\.config\.yaml:3; raise it there or with --max-scenario-bytes N/)
    await writeFile(path.join(dir, 'labproof.config.yaml'), 'backend: netns\nmaxSteps: 0\n')
    expect(() => loadConfig(dir)).toThrow(/^labproof\.config\.yaml:2:11: maxSteps: /)
  })

  test('the command line wins over the environment, which wins over the config file', () => {
    const config = { steps: { value: 10, at: 'labproof.config.yaml:2' }, bytes: { value: 300, at: 'labproof.config.yaml:3' } }
    expect(resolveLimits({ config })).toEqual({ steps: 10, bytes: 300, from: { steps: 'labproof.config.yaml:2', bytes: 'labproof.config.yaml:3' } })
    expect(resolveLimits({ env: { LABPROOF_MAX_STEPS: '20' }, config })).toEqual({ steps: 20, bytes: 300, from: { steps: 'LABPROOF_MAX_STEPS', bytes: 'labproof.config.yaml:3' } })
    expect(resolveLimits({ cli: { steps: 30 }, env: { LABPROOF_MAX_STEPS: '20' }, config })).toEqual({ steps: 30, bytes: 300, from: { steps: '--max-steps', bytes: 'labproof.config.yaml:3' } })
    expect(resolveLimits({})).toEqual({ steps: 2000, bytes: 1024 * 1024 })
  })

  test('a YAML alias bomb names its file and the first alias', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...'bcdefghi'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`)].join('\n')
    expect(loadError(`${bomb}\n${HEAD}${STEP}`, 'bomb.yaml')).toMatch(/^bomb\.yaml:2:\d+: not valid YAML: Excessive alias count indicates a resource exhaustion attack$/)
  })

  test('a malformed limit setting says what is expected', () => {
    process.env.LABPROOF_MAX_STEPS = 'many'
    try {
      expect(() => parseScenario(steps(1), 'x.yaml')).toThrow(/^LABPROOF_MAX_STEPS=many: a whole number above 0 is expected$/)
    } finally {
      delete process.env.LABPROOF_MAX_STEPS
    }
  })
})
