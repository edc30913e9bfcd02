// Every command has a timeout; a hanging one is killed with its children and comes back with
// the output it wrote so far and the timeout named: locally, in a netns host, in a docker host
// (the ssh transport is covered in ssh-host.test.ts), and at the scenario level, where the
// default, the scenario's `timeoutMs` and a step's `timeoutMs` each apply.
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { netnsBackend } from '../../harness/backends/netns/netns.ts'
import type { Host } from '../../harness/host.ts'
import type { Lab } from '../../harness/lab.ts'
import { runProcess } from '../../harness/local-process.ts'
import { parseScenario } from '../../harness/scenario/loader.ts'
import { DEFAULT_STEP_TIMEOUT_MS, ScenarioEngine } from '../../harness/engine/engine.ts'
import type { StepResult } from '../../harness/engine/events.ts'
import { planSteps } from '../../harness/scenario/plan.ts'
import { buildTopology } from '../../harness/topology.ts'
import { describeWithEngine, dockerMissing } from '../helpers/engines.ts'

const root = process.getuid?.() === 0

/** A `sleep` no other process on this machine runs: its presence is ours to count. */
function markerSleep(): string {
  return `${4000 + (randomBytes(2).readUInt16BE() % 1000)}.${randomBytes(3).readUIntBE(0, 3)}`
}

/** Processes whose command line is `sleep <seconds>`, in any PID namespace or container. */
function sleepers(seconds: string): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8') === `sleep\0${seconds}\0`) found.push(Number(entry))
    } catch {
      // exited meanwhile
    }
  }
  return found
}

/** Output before the hang, on both streams; a child in the background; nothing after. */
function hangingScript(seconds: string): string {
  return `echo before; echo partial >&2; sleep ${seconds} & sleep ${seconds}; echo never`
}

async function expectKilledWithOutputSoFar(run: (script: string, timeoutMs: number) => Promise<{ exitCode: number; stdout: string; stderr: string; timedOut?: boolean; ms: number }>) {
  const seconds = markerSleep()
  const r = await run(hangingScript(seconds), 800)
  expect(r).toMatchObject({ exitCode: 124, timedOut: true })
  expect(r.stdout).toBe('before\n')
  expect(r.stderr).toContain('partial\n')
  expect(r.stdout + r.stderr).not.toContain('never')
  expect(r.ms).toBeGreaterThanOrEqual(790)
  expect(r.ms).toBeLessThan(15_000)
  // Both sleeps, the foreground one and the one sent to the background, are gone.
  for (let i = 0; i < 40 && sleepers(seconds).length; i++) await new Promise((res) => setTimeout(res, 50))
  expect(sleepers(seconds)).toEqual([])
}

describe('a local command past its timeout', () => {
  test('is killed with its process group, keeps stdout and stderr so far, and says it timed out', async () => {
    await expectKilledWithOutputSoFar((script, timeoutMs) => runProcess('sh', ['-c', script], { timeoutMs }))
  })

  test('a command that finishes in time is not marked', async () => {
    const r = await runProcess('sh', ['-c', 'echo ok; exit 3'], { timeoutMs: 5_000 })
    expect(r).toMatchObject({ exitCode: 3, stdout: 'ok\n' })
    expect(r.timedOut).toBeUndefined()
  })
})

describe.skipIf(!root)('a netns host command past its timeout (needs root)', () => {
  let lab: Lab
  beforeAll(async () => {
    lab = await netnsBackend.provision(buildTopology())
  })
  afterAll(async () => {
    await lab?.destroy()
  })

  test('on the host: killed with its children, output so far kept', async () => {
    const host: Host = lab.host('host01')
    await expectKilledWithOutputSoFar((script, timeoutMs) => host.exec(script, { timeoutMs }))
  })

  test('inside a namespace of the host (ip netns exec): the same', async () => {
    const host: Host = lab.host('host02')
    await host.succeed('ip netns add ns1')
    await expectKilledWithOutputSoFar((script, timeoutMs) => host.exec(script, { timeoutMs, netns: 'ns1' }))
  })
})

const dockerMissingHere = await dockerMissing()

describeWithEngine('docker', dockerMissingHere, 'a docker host command past its timeout', () => {
  let lab: Lab
  beforeAll(async () => {
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true'
    const { dockerBackend } = await import('../../harness/backends/docker/docker.ts')
    lab = await dockerBackend.provision(buildTopology())
  }, 600_000)
  afterAll(async () => {
    await lab?.destroy()
  })

  test('killed inside the container with its children, output so far kept', async () => {
    const host: Host = lab.host('host01')
    await expectKilledWithOutputSoFar((script, timeoutMs) => host.exec(script, { timeoutMs }))
  })
})

describe.skipIf(!root)('step timeouts in a scenario (needs root)', () => {
  async function runAll(yaml: string): Promise<{ session: ScenarioEngine; results: StepResult[] }> {
    const s = parseScenario(yaml, 'timeouts.yaml')
    const session = new ScenarioEngine(s, { backend: 'netns', jobs: 1 })
    await session.start()
    try {
      const results: StepResult[] = []
      for (const planned of planSteps(s)) results.push(await session.runStep(planned))
      return { session, results }
    } finally {
      await session.stop()
    }
  }

  const header = (extra = '') => `id: timeouts\ntitle: timeouts\nsource: { doc: none.txt, section: none }\n${extra}steps:\n`

  function failure(r: StepResult | undefined): string {
    expect(r?.status).toBe('failed')
    return r?.status === 'failed' ? String((r.error as Error).message) : ''
  }

  test("a scenario without timeoutMs gets the default, and the test runner allows each step more than its command's timeout", async () => {
    // More than the timeout: a hanging command must fail with its own message and transcript,
    // not be cut short by vitest's.
    const plainScenario = parseScenario(`${header()}  - { on: host01, run: 'true' }\n  - { on: host01, run: 'true', timeoutMs: 90000 }\n`, 'timeouts.yaml')
    const plain = new ScenarioEngine(plainScenario, { backend: 'netns', jobs: 1 })
    expect(plain.stepTimeoutMs).toBe(DEFAULT_STEP_TIMEOUT_MS)
    const [first, long] = planSteps(plainScenario)
    expect(plain.stepBudgetMs(first!.step)).toBeGreaterThan(DEFAULT_STEP_TIMEOUT_MS)
    expect(plain.stepBudgetMs(long!.step)).toBeGreaterThan(90_000)
    const ownScenario = parseScenario(`${header('timeoutMs: 700\n')}  - { on: host01, run: 'true' }\n`, 'timeouts.yaml')
    const own = new ScenarioEngine(ownScenario, { backend: 'netns', jobs: 1 })
    expect(own.stepTimeoutMs).toBe(700)
    expect(own.stepBudgetMs(planSteps(ownScenario)[0]!.step)).toBeGreaterThan(700)
  })

  test("the scenario's timeoutMs: the step fails naming the command, the timeout, and what it printed", async () => {
    const seconds = markerSleep()
    const { results } = await runAll(`${header('timeoutMs: 700\n')}  - { on: host01, run: '${hangingScript(seconds)}' }\n  - { on: host01, run: 'true' }\n`)
    const message = failure(results[0])
    expect(message).toContain(`to finish within 700 ms on host01`)
    expect(message).toContain('it was killed at the timeout')
    // …and what its processes were doing then, read from the host's /proc before the kill; the
    // newest of them (the one the others wait for, as a rule) in the verdict's line.
    expect(message).toMatch(/it was killed at the timeout; then pid \d+ sleep: sleeping/)
    expect(message).toMatch(/at the timeout:\n(\s+pid \d+ .*\n)*\s+pid \d+ sleep: sleeping, [\d.]+ s of CPU/)
    expect(message).toMatch(/exit 124 \(killed: timed out\)/)
    expect(message).toMatch(/stdout:\n\s+before/)
    expect(message).toMatch(/stderr:\n\s+partial/)
    expect(message).not.toMatch(/^\s+never$/m)
    expect(results[1]).toEqual({ status: 'skipped', reason: 'blocked by step 1' })
    expect(sleepers(seconds)).toEqual([])
  })

  test("a step's timeoutMs overrides the scenario's, downwards and upwards", async () => {
    const { results } = await runAll(`${header('timeoutMs: 400\n')}` +
      `  - { on: host01, run: 'sleep 1; echo slow but allowed', timeoutMs: 5000 }\n`)
    expect(results[0]?.status).toBe('passed')
    const { results: short } = await runAll(`${header('timeoutMs: 20000\n')}  - { on: host01, run: 'echo started; sleep 30', timeoutMs: 500 }\n`)
    const message = failure(short[0])
    expect(message).toContain('to finish within 500 ms on host01')
    expect(message).toMatch(/stdout:\n\s+started/)
  })

  test("a check step's timeoutMs applies to the commands the check runs", async () => {
    const { results } = await runAll(`${header()}  - { check: { route: { on: host01, dst: default } }, timeoutMs: 1 }\n`)
    const message = failure(results[0])
    expect(message).toMatch(/could not read the state on host01: `ip -j route show[^`]*` did not finish within 1 ms and was killed/)
  })

  test('an unknown namespace is named, with the namespaces the host has', async () => {
    const { results } = await runAll(`${header()}  - { on: host01, run: ip netns add blue }\n  - { on: host01, run: ip netns add red }\n  - { on: host01/green, run: ip link show }\n  - { on: host02/ns1, run: ip link show }\n`)
    expect(failure(results[2])).toMatch(/^host01 has no network namespace "green" \(on: host01\/green\); its namespaces are: (red, blue|blue, red)\. Create it/)
    const { results: none } = await runAll(`${header()}  - { on: host02/ns1, run: ip link show }\n`)
    expect(failure(none[0])).toMatch(/^host02 has no network namespace "ns1" \(on: host02\/ns1\); it has none\./)
  })
})
