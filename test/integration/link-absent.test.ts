// A link check of absence gives a link on its way out its time: the kernel removes a deleted
// network namespace's links (a veth end, and so its peer) after `ip netns delete` has returned,
// later on a loaded machine (CI's isolation run once read veth-c1-br there right after its
// namespace went). A link that stays still fails, with what was read last.
import { afterAll, beforeAll, expect, test } from 'vitest'
import { CheckFailure } from '../../harness/checks/check-failure.ts'
import { ScenarioEngine } from '../../harness/engine/engine.ts'
import type { StepResult } from '../../harness/engine/events.ts'
import { parseScenario } from '../../harness/scenario/loader.ts'
import { describeWithEngine, rootMissing } from '../helpers/engines.ts'
import { settleThenEachAlone } from '../helpers/settled-steps.ts'

const SCENARIO = [
  'id: link-absent',
  'title: a link on its way out',
  'source: { doc: none.txt, section: none }',
  'steps:',
  '  - { on: host01, run: ip netns add going, added: true }',
  '  - { on: host01, run: ip link add lx0 type veth peer name lx1 netns going, added: true }',
  // The namespace goes half a second after the step has ended, in a session of its own.
  "  - { on: host01, run: \"setsid sh -c 'sleep 0.5; ip netns delete going' >/dev/null 2>&1 &\", added: true }",
  '  - check: { link: { on: host01, name: lx0, exists: false } }',
  '  - { on: host01, run: ip link add ly0 type veth peer name ly1, added: true }',
  '  - check: { link: { on: host01, name: ly0, exists: false } }',
].join('\n') + '\n'

describeWithEngine('root', rootMissing(), 'a link check of absence on a netns lab', () => {
  const scenario = parseScenario(SCENARIO, 'link-absent.yaml')
  const engine = new ScenarioEngine(scenario, { backend: 'netns', jobs: 1 })
  let results: StepResult[] = []

  beforeAll(async () => {
    await engine.start()
    // The failing check on its own, as it would run after the steps before it passed.
    results = await settleThenEachAlone(engine, 5)
  }, 120_000)

  afterAll(async () => {
    await engine.stop()
  })

  test('passes once a deleted namespace\'s veth pair has gone, read again while it was there', () => {
    expect(results.slice(0, 5).map((r) => r.status)).toEqual(['passed', 'passed', 'passed', 'passed', 'passed'])
    const check = results[3]!
    expect(check).toMatchObject({ outcome: { summary: 'host01 has no link lx0' } })
    const reads = check.status === 'passed' ? check.record.transcript.filter((r) => r.command === 'ip -j -d addr show dev lx0') : []
    expect(reads.length).toBeGreaterThan(1)
    expect(reads.at(-1)!.exitCode).not.toBe(0)
    expect(reads[0]!.exitCode).toBe(0)
  })

  test('fails on a link that stays, with what it read last', () => {
    const r = results[5]!
    expect(r.status).toBe('failed')
    const error = r.status === 'failed' ? r.error : undefined
    expect(error).toBeInstanceOf(CheckFailure)
    expect((error as CheckFailure).actual).toBe('it exists')
    expect((error as CheckFailure).evidence).toMatch(/"ifname":\s*"ly0"/)
  })
})
