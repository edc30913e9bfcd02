// Consecutive plain document commands on one host run as one batch (engine.ts beginBatch): one
// round trip to the host for all of them. Each step must still be judged and reported exactly as
// when run alone: its own transcript, output, status and timeout; a status its expectation does
// not accept ends the batch in the host (the commands after it never run) and blocks the steps
// after it; a step that fails on its output blocks them too.
import { describe, expect, test } from 'vitest'
import { ScenarioEngine } from '../../harness/engine/engine.ts'
import type { StepResult } from '../../harness/engine/events.ts'
import { parseScenario } from '../../harness/scenario/loader.ts'
import { planSteps } from '../../harness/scenario/plan.ts'

const root = process.getuid?.() === 0

function scenario(steps: string[], extra: string[] = []): string {
  return ['id: batches', 'title: batches', 'source: { doc: none.txt, section: s }', ...extra, 'steps:', ...steps.map((s) => `  - ${s}`)].join('\n') + '\n'
}

/** Runs every step, then `after` on the lab before it goes down; counts the host's batches. */
async function run(yaml: string, after?: (engine: ScenarioEngine) => Promise<void>) {
  const engine = new ScenarioEngine(parseScenario(yaml, 'batches.yaml'), { backend: 'netns', jobs: 1 })
  const results: StepResult[] = []
  const lab = await engine.start()
  let batches = 0
  for (const h of lab.topology.hosts) {
    const host = lab.host(h.name)
    const execBatch = host.execBatch!.bind(host)
    host.execBatch = (commands) => (batches++, execBatch(commands))
  }
  try {
    for (const planned of planSteps(engine.scenario)) results.push(await engine.settle(planned))
    await after?.(engine)
  } finally {
    await engine.stop()
  }
  return { results, batches }
}

const message = (r: StepResult | undefined) => (r?.status === 'failed' ? String((r.error as Error).message) : '')
/** A failure's message without what differs from run to run: the command's time, random MACs. */
const untimed = (m: string) => m.replace(/after \d+ ms/g, 'after N ms').replace(/mac [\da-f:]{17}/g, 'mac M')

describe.skipIf(!root)('plain document commands in one batch (netns, needs root)', () => {
  test('each step keeps its own output, status, input and transcript', async () => {
    const { results, batches } = await run(scenario([
      '{ on: host01, run: echo one, added: true, expect: { output: one } }',
      '{ on: host01, run: "echo two >&2; exit 3", added: true, expect: { exitCode: 3, contains: two } }',
      '{ on: host01, run: cat, input: "typed\\n", added: true, expect: { output: typed } }',
      '{ on: host01, run: ip netns add nsb, added: true }',
      '{ on: host01/nsb, run: ip -br link show lo, added: true, expect: { contains: lo } }',
      '{ on: host01, run: ip netns del nsb, added: true }',
    ]))
    expect(batches).toBe(1)
    expect(results.map((r) => r.status)).toEqual(['passed', 'passed', 'passed', 'passed', 'passed', 'passed'])
    const transcripts = results.map((r) => (r.status === 'passed' ? r.record.transcript : []))
    expect(transcripts.map((t) => t.length)).toEqual([1, 1, 1, 1, 1, 1])
    expect(transcripts[1]![0]).toMatchObject({ host: 'host01', command: 'echo two >&2; exit 3', exitCode: 3, stdout: '', stderr: 'two\n' })
    expect(transcripts[2]![0]).toMatchObject({ stdout: 'typed\n', exitCode: 0 })
    expect(transcripts[4]![0]).toMatchObject({ netns: 'nsb', command: 'ip -br link show lo' })
  }, 60_000)

  test('a status its step does not accept ends the batch in the host: the commands after it never run, their steps are blocked', async () => {
    let left = ''
    const { results } = await run(scenario([
      '{ on: host01, run: "true", added: true }',
      '{ on: host01, run: "false", added: true }',
      '{ on: host01, run: touch /tmp/after-the-failure, added: true }',
    ]), async (engine) => {
      left = (await engine.lab!.host('host01').exec('ls /tmp/after-the-failure 2>&1 || true')).stdout
    })
    expect(results.map((r) => r.status)).toEqual(['passed', 'failed', 'skipped'])
    expect(message(results[1])).toContain('exit 0')
    expect(results[2]).toEqual({ status: 'skipped', reason: 'blocked by step 2' })
    expect(left).toContain('No such file')
  }, 60_000)

  test('a step that fails on its output fails with the message it has alone, and blocks the rest of its batch', async () => {
    const yaml = (batched: boolean) => scenario([
      '{ on: host01, run: echo hello, added: true, expect: { contains: goodbye } }',
      // A check on another host between the two commands: each runs alone.
      ...(batched ? [] : ['check: { sysctl: { on: host02, key: net.ipv4.ip_forward, value: "0" } }']),
      '{ on: host01, run: echo later, added: true }',
    ])
    const [together, alone] = [await run(yaml(true)), await run(yaml(false))]
    expect(together.batches).toBe(1)
    expect(alone.batches).toBe(0)
    expect(together.results[0]!.status).toBe('failed')
    expect(untimed(message(together.results[0]))).toBe(untimed(message(alone.results[0])))
    expect(together.results[1]).toEqual({ status: 'skipped', reason: 'blocked by step 1' })
  }, 60_000)

  test('checks that only read configuration join the batch: each reads the state its place in the plan gives it, and fails as it does alone', async () => {
    const yaml = (batched: boolean) => scenario([
      '{ on: host01, run: ip link add lpa type veth peer name lpb, added: true }',
      'check: { link: { on: host01, name: lpa, state: down } }',
      '{ on: host01, run: ip link set lpa up, added: true }',
      'check: { link: { on: host01, name: lpa, state: up } }',
      'check: { sysctl: { on: host01, key: net.ipv4.ip_forward, value: "0" } }',
      '{ on: host01, run: ip link set lpa down, added: true }',
      ...(batched ? [] : ['check: { sysctl: { on: host02, key: net.ipv4.ip_forward, value: "0" } }']),
      // False: it is down again.
      'check: { link: { on: host01, name: lpa, state: up } }',
      '{ on: host01, run: ip link del lpa, added: true }',
    ])
    const [together, alone] = [await run(yaml(true)), await run(yaml(false))]
    expect(together.batches).toBe(1)
    expect(together.results.map((r) => r.status)).toEqual(['passed', 'passed', 'passed', 'passed', 'passed', 'passed', 'failed', 'skipped'])
    const last = (r: { results: StepResult[] }) => r.results.find((x) => x.status === 'failed')
    expect(message(last(together))).toContain('expected lpa on host01: state up')
    expect(untimed(message(last(together)))).toBe(untimed(message(last(alone))))
    const transcript = together.results[1]!.status === 'passed' ? together.results[1]!.record.transcript : []
    expect(transcript).toMatchObject([{ host: 'host01', command: 'ip -j -d addr show dev lpa', exitCode: 0 }])
  }, 60_000)

  test('a batched command past its timeout is killed and named; nothing after it runs', async () => {
    let left = ''
    const { results } = await run(scenario([
      '{ on: host01, run: echo before, added: true }',
      '{ on: host01, run: "echo started; sleep 20", added: true, timeoutMs: 500 }',
      '{ on: host01, run: touch /tmp/after-the-timeout, added: true }',
    ]), async (engine) => {
      left = (await engine.lab!.host('host01').exec('ls /tmp/after-the-timeout 2>&1 || true')).stdout
    })
    expect(results.map((r) => r.status)).toEqual(['passed', 'failed', 'skipped'])
    expect(message(results[1])).toContain('`echo started; sleep 20` to finish within 500 ms on host01')
    expect(message(results[1])).toContain('started')
    expect(left).toContain('No such file')
  }, 60_000)
})
