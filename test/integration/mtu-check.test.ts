// The mtu check kind, added as one file (harness/checks/mtu.ts): a scenario names it, the loader
// validates it, the engine runs it on a netns lab (passing on the right MTU, failing on a wrong
// one with both numbers), the plan knows what it needs, and grading may send its probe.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { CheckFailure } from '../../harness/checks/check-failure.ts'
import { ScenarioEngine } from '../../harness/engine/engine.ts'
import type { StepResult } from '../../harness/engine/events.ts'
import { planGrading } from '../../harness/grade/plan.ts'
import { runReadOnlyCheck } from '../../harness/grade/read-only-checks.ts'
import { isReadOnlyCommand, ReadOnlyHost } from '../../harness/grade/read-only-host.ts'
import { singleHostLab } from '../../harness/grade/single-host-lab.ts'
import { parseScenario } from '../../harness/scenario/loader.ts'
import { planSteps, topologyOf } from '../../harness/scenario/plan.ts'
import { StepContext } from '../../harness/scenario/step-context.ts'
import { settleThenEachAlone } from '../helpers/settled-steps.ts'

const root = process.getuid?.() === 0

const SCENARIO = [
  'id: mtu',
  'title: a link MTU',
  'source: { doc: none.txt, section: none }',
  'steps:',
  '  - { on: host01, run: ip netns add ns1, added: true }',
  '  - { on: host01, run: ip link add v1 type veth peer name v1p netns ns1, added: true }',
  '  - { on: host01, run: ip link set v1 mtu 1400, added: true }',
  '  - check: { mtu: { on: host01, name: v1, mtu: 1400 } }',
  '  - check: { mtu: { on: host01/ns1, name: v1p, mtu: 1500 } }',
  '  - check: { mtu: { on: host01, name: v1, mtu: 1500 } }',
  '  - check: { mtu: { on: host01, name: v9, mtu: 1500 } }',
].join('\n') + '\n'

describe('an mtu check in a scenario', () => {
  const scenario = parseScenario(SCENARIO, 'mtu.yaml')

  test('is validated at load, with the file, line and field', () => {
    expect(() => parseScenario(SCENARIO.replace('mtu: 1400 }', 'mtu: 40 }'), 'mtu.yaml')).toThrow(/^mtu\.yaml:8:\d+: steps\[3\]\.check\.mtu\.mtu: /)
    expect(() => parseScenario(SCENARIO.replace('name: v1, mtu: 1400', 'name: v1, mtu: 1400, size: 3'), 'mtu.yaml')).toThrow(/^mtu\.yaml:8:\d+: steps\[3\]\.check\.mtu\.size: unknown field "size"/)
    expect(() => parseScenario(SCENARIO.replace('on: host01, name: v1, mtu: 1400', 'on: host07, name: v1, mtu: 1400'), 'mtu.yaml')).toThrow(/^mtu\.yaml:8:\d+: steps\[3\]\.check\.mtu\.on: unknown host "host07"/)
  })

  test('needs ip on its host, and is titled by what it claims', () => {
    const check = planSteps(scenario)[3]!
    expect(check.requires.tools).toEqual(['ip'])
    expect(check.requires.kernel).toEqual([])
  })

  test('is graded by its own probe, which the read-only allowlist admits', () => {
    expect(isReadOnlyCommand('ip -j link show dev v1')).toBe(true)
    expect(isReadOnlyCommand('ip link set v1 mtu 1500')).toBe(false)
    const plan = planGrading(scenario, topologyOf(scenario), 'host01')
    expect(plan.map((p) => [p.kind, p.title, p.tools, p.needsSetup ?? 'graded'])).toEqual([
      ['mtu', 'mtu 1400 on v1 at host01', ['ip'], expect.stringMatching(/^describes the lab midway: step 6 /)],
      ['mtu', 'mtu 1500 on v1p at host01/ns1', ['ip'], 'graded'],
      ['mtu', 'mtu 1500 on v1 at host01', ['ip'], 'graded'],
      ['mtu', 'mtu 1500 on v9 at host01', ['ip'], 'graded'],
    ])
  })
})

describe.skipIf(!root)('an mtu check on a netns lab (needs root)', () => {
  const scenario = parseScenario(SCENARIO, 'mtu.yaml')
  const engine = new ScenarioEngine(scenario, { backend: 'netns', jobs: 1 })
  let results: StepResult[] = []

  beforeAll(async () => {
    await engine.start()
    // The steps up to the passing checks; each failing check on its own.
    results = await settleThenEachAlone(engine, 5)
  }, 120_000)

  afterAll(async () => {
    await engine.stop()
  })

  function failureOf(r: StepResult | undefined): CheckFailure {
    expect(r?.status).toBe('failed')
    const error = r?.status === 'failed' ? r.error : undefined
    expect(error).toBeInstanceOf(CheckFailure)
    return error as CheckFailure
  }

  test('passes where the link has the MTU claimed, in the host and in a namespace', () => {
    expect(results.slice(0, 5).map((r) => r.status)).toEqual(['passed', 'passed', 'passed', 'passed', 'passed'])
    expect(results[3]).toMatchObject({ outcome: { summary: 'v1 on host01: mtu 1400' } })
    expect(results[4]).toMatchObject({ outcome: { summary: 'v1p on host01/ns1: mtu 1500' } })
  })

  test('fails on a wrong MTU, saying what it wanted and what the link has', () => {
    const failure = failureOf(results[5])
    expect(failure.expected).toBe('mtu 1500 on v1 at host01')
    expect(failure.actual).toBe('mtu 1400')
    expect(failure.evidence).toMatch(/"ifname":\s*"v1"/)
  })

  test('fails on a link that is not there', () => {
    const failure = failureOf(results[6])
    expect(failure.expected).toBe('a link v9 with mtu 1500 on host01')
    expect(failure.actual).toMatch(/v9/)
  })

  test('reads the same through grading: only its probe is sent, and it judges alike', async () => {
    const lab = singleHostLab(engine.lab!.topology, 'host01', new ReadOnlyHost(engine.lab!.host('host01')))
    const grade = (mtu: number) => runReadOnlyCheck({ mtu: { on: 'host01', name: 'v1', mtu } }, new StepContext(lab, 10_000))
    await expect(grade(1400)).resolves.toBe('v1 on host01: mtu 1400')
    await expect(grade(9000)).rejects.toThrow(/expected mtu 9000 on v1 at host01\n\s+got mtu 1400/)
  })
})
