// The engine on a netns lab, seen only through its events, as every report sees it: lab up, each
// host probed once, every step started and then either a result (with its transcript) or a skip
// (with its reason), lab down; a failure blocks the steps after it.
import { beforeAll, describe, expect, test } from 'vitest'
import { CheckFailure } from '../../harness/checks/check-failure.ts'
import { ScenarioEngine } from '../../harness/engine/engine.ts'
import type { EngineEvent, StepResult } from '../../harness/engine/events.ts'
import { parseScenario } from '../../harness/scenario/loader.ts'

const root = process.getuid?.() === 0

const SCENARIO = [
  'id: events',
  'title: engine events',
  'source: { doc: none.txt, section: first }',
  'steps:',
  '  - { on: host01, run: ip link add v1 type veth peer name v2, added: true }',
  '  - section: second',
  '  - { on: host01, run: ip tunnel add t1 mode ipip remote 192.168.21.12 local 192.168.21.11, added: true }',
  '  - check: { link: { on: host01, name: v1, state: up } }',
  '  - { on: host02, run: "true", added: true }',
].join('\n') + '\n'

describe.skipIf(!root)('engine events on a netns lab (needs root)', () => {
  const events: EngineEvent[] = []
  let results: StepResult[]

  beforeAll(async () => {
    const engine = new ScenarioEngine(parseScenario(SCENARIO, 'events.yaml'), { backend: 'netns', jobs: 1 })
    const record = (e: EngineEvent) => void events.push(e)
    engine.subscribe({ 'lab-up': record, 'host-probed': record, 'step-started': record, 'step-result': record, 'step-skipped': record, 'lab-down': record })
    results = await engine.runAll()
  }, 120_000)

  const ipipMissing = () => {
    const caps = events.find((e) => e.type === 'host-probed' && e.capabilities.host === 'host01')
    return caps?.type === 'host-probed' && caps.capabilities.features.ipip !== true
  }

  test('the lab comes up first and goes down last; a host is probed once, when a step first needs it', () => {
    expect(events[0]).toMatchObject({ type: 'lab-up', cell: 'netns', lab: { backend: 'netns' } })
    expect(events.at(-1)).toMatchObject({ type: 'lab-down', cell: 'netns' })
    const probed = events.filter((e) => e.type === 'host-probed').map((e) => e.type === 'host-probed' && e.capabilities.host)
    // host02's only step is blocked by step 4 before anything runs on host02.
    expect(probed).toEqual(['host01'])
    const firstEnd = events.findIndex((e) => e.type === 'step-result' || e.type === 'step-skipped')
    expect(events.findIndex((e) => e.type === 'host-probed')).toBeLessThan(firstEnd)
  })

  test('every step is started, then has exactly one result or skip, in document order with its section', () => {
    const steps = events.filter((e) => e.type === 'step-started' || e.type === 'step-result' || e.type === 'step-skipped')
      .map((e) => 'step' in e ? `${e.type} ${e.step.number} ${e.step.section}` : '')
    const third = ipipMissing() ? 'step-skipped 3 second' : 'step-result 3 second'
    expect(steps).toEqual([
      'step-started 1 first', 'step-result 1 first',
      'step-started 3 second', third,
      'step-started 4 second', 'step-result 4 second',
      'step-started 5 second', 'step-skipped 5 second',
    ])
  })

  test('a step that needs what a host lacks is skipped with the reason; one that ran carries its transcript', () => {
    const ipip = events.find((e) => (e.type === 'step-skipped' || e.type === 'step-result') && e.step.number === 3)!
    if (ipipMissing()) expect(ipip).toMatchObject({ type: 'step-skipped', reason: 'host01: kernel lacks ipip (CONFIG_NET_IPIP)' })
    else expect(ipip).toMatchObject({ type: 'step-result', result: { status: 'passed' } })
    const first = events.find((e) => e.type === 'step-result' && e.step.number === 1)
    expect(first?.type === 'step-result' && first.result.record.transcript.map((r) => [r.host, r.command, r.exitCode])).toEqual([
      ['host01', 'ip link add v1 type veth peer name v2', 0],
    ])
  })

  test('a failed check carries its error and what it ran; the steps after it are blocked', () => {
    const failed = events.find((e) => e.type === 'step-result' && e.step.number === 4)
    expect(failed?.type === 'step-result' && failed.result.status).toBe('failed')
    if (failed?.type !== 'step-result' || failed.result.status !== 'failed') return
    expect(failed.result.error).toBeInstanceOf(CheckFailure)
    expect((failed.result.error as CheckFailure).expected).toBe('v1 on host01: state up')
    expect(failed.result.record.transcript.map((r) => r.command)).toEqual(['ip -j -d addr show dev v1'])
    expect(events.find((e) => e.type === 'step-skipped' && e.step.number === 5)).toMatchObject({ reason: 'blocked by step 4' })
    expect(results.map((r) => r.status)).toEqual(['passed', ipipMissing() ? 'skipped' : 'passed', 'failed', 'skipped'])
  })
})
