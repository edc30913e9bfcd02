// Verdicts that don't hold the line, on real netns labs: a "no reply" claim lets the scenario go
// on while it waits, and is exactly as strong as when it held the line. A reply that comes late
// (held back by a token bucket on the answering host) still fails it; a later step that changes
// the hosts waits for the verdict; a step that only reads may run meanwhile, and is reported
// blocked when the claim it ran beside fails, as it would have been had it waited.
import { describe, expect, test } from 'vitest'
import { CheckFailure } from '../../harness/checks/check-failure.ts'
import { ScenarioEngine } from '../../harness/engine/engine.ts'
import type { StepResult } from '../../harness/engine/events.ts'
import { parseScenario } from '../../harness/scenario/loader.ts'
import { planSteps } from '../../harness/scenario/plan.ts'

const root = process.getuid?.() === 0

function scenario(steps: string[]): string {
  return ['id: deferred', 'title: deferred verdicts', 'source: { doc: none.txt, section: first }', 'steps:', ...steps.map((s) => `  - ${s}`)].join('\n') + '\n'
}

/** Run every step as the vitest binding does (settled in order); which ran ahead. */
async function run(text: string): Promise<{ results: StepResult[]; ranAhead: boolean[] }> {
  const s = parseScenario(text, 'deferred.yaml')
  const engine = new ScenarioEngine(s, { backend: 'netns', jobs: 1 })
  const plan = planSteps(s)
  await engine.start()
  try {
    const results: StepResult[] = []
    const ranAhead: boolean[] = []
    for (const p of plan) {
      results.push(await engine.settle(p))
      ranAhead.push(engine.ranAhead(p))
    }
    return { results, ranAhead }
  } finally {
    await engine.stop()
  }
}

const IGNORE_ECHO = '{ on: host02, run: sysctl -w net.ipv4.icmp_echo_ignore_all=1, added: true }'
const NO_REPLY = 'check: { ping: { from: host01, to: 192.168.21.12, reachable: false } }'
const READS = 'check: { link: { on: host01, name: ens33, state: up } }'

describe.skipIf(!root)('"no reply" verdicts decided while the scenario goes on (needs root)', () => {
  test('a claim that holds: the reading steps after it ran meanwhile, and everything passes', async () => {
    const { results, ranAhead } = await run(scenario([IGNORE_ECHO, NO_REPLY, READS, '{ on: host01, run: ip route show, added: true }']))
    expect(results.map((r) => r.status)).toEqual(['passed', 'passed', 'passed', 'passed'])
    expect(ranAhead).toEqual([false, false, true, true])
  }, 60_000)

  test('a late reply still fails the claim; the step that ran beside it is reported blocked', async () => {
    // host02 sends at most 1000 bytes a second from a 600-byte bucket, and to host01 in packets
    // of at most 576 bytes: the document ping's 628-byte reply leaves as two fragments at once,
    // and the second waits for its tokens: at least 76 ms (118 after the ARP reply), whatever
    // the machine's load. So the lab shows a slow reply, "no reply" waits its longest, and the
    // claim's replies, held back or not, come within that wait.
    // (Three small replies were slow only while ping kept its 10 ms pace: on a loaded machine
    // its requests came apart, the bucket refilled between them, and the wait stayed 0.1 s.)
    const { results, ranAhead } = await run(scenario([
      '{ on: host02, run: "tc qdisc add dev ens33 root tbf rate 8kbit burst 600 latency 10s && ip route add 192.168.21.11 dev ens33 mtu 576", added: true }',
      '{ on: host01, run: ping -c 1 -s 600 192.168.21.12, added: true, expect: { reachable: true } }',
      NO_REPLY,
      READS,
    ]))
    expect(results.map((r) => r.status)).toEqual(['passed', 'passed', 'failed', 'skipped'])
    expect(ranAhead[3]).toBe(true)
    const failed = results[2]!
    if (failed.status !== 'failed') return
    expect(failed.error).toBeInstanceOf(CheckFailure)
    expect((failed.error as CheckFailure).expected).toBe('ping 192.168.21.12 from host01: no reply')
    // The same wait as ever: the lab's "no reply" time, grown from the slow reply it showed
    // (100 x >= 76 ms, capped at the second every ping waits).
    expect(failed.record.transcript[0]!.command).toBe('ping -c 3 -i 0.01 -W 1 192.168.21.12')
    // The replies are on the wire too, in the step's own capture.
    const decoded = String(failed.record.attachments.find((a) => a.name.endsWith('decoded'))?.content)
    expect(decoded).toMatch(/echo reply/)
    expect(results[3]).toEqual({ status: 'skipped', reason: 'blocked by step 3' })
  }, 60_000)

  test('a step that changes the answering host waits for the verdict, so the claim holds', async () => {
    // Were the sysctl run beside the pings, host02 would answer them.
    const { results, ranAhead } = await run(scenario([
      IGNORE_ECHO,
      NO_REPLY,
      '{ on: host02, run: sysctl -w net.ipv4.icmp_echo_ignore_all=0, added: true }',
      'check: { ping: { from: host01, to: 192.168.21.12 } }',
    ]))
    expect(results.map((r) => r.status)).toEqual(['passed', 'passed', 'passed', 'passed'])
    expect(ranAhead).toEqual([false, false, false, false])
  }, 60_000)
})
