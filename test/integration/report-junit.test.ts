// What `labproof run` writes for CI: reports/junit.xml with each step's verdict where CI shows
// it (skip reasons, one-line failure messages with the hint, the scenario file and the step's
// line), the same reasons and transcripts in Allure, and honest files when a run is stopped by
// SIGINT (steps that never ran: "interrupted") or killed by SIGKILL (a complete file, never a
// truncated one). Needs root (netns labs).
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { parseJunit } from '../../harness/report/junit.ts'
import { junitCases, ROOT, runCli, startCli, type CliRun } from '../helpers/labproof-cli.ts'

const root = process.getuid?.() === 0
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'report-scenarios')
const TIMEOUT = 600_000

let dir: string

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'labproof-report-junit-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** The line of the first line of `file` that contains `text` (1-based). */
function lineOf(file: string, text: string): number {
  const lines = readFileSync(file, 'utf8').split('\n')
  const i = lines.findIndex((l) => l.includes(text))
  if (i < 0) throw new Error(`${file} has no line with ${text}`)
  return i + 1
}

/** Whether this kernel can make an ipip device (in a scratch network namespace). */
function kernelHasIpip(): boolean {
  return spawnSync('unshare', ['--net', 'ip', 'link', 'add', 'lp-t', 'type', 'ipip', 'local', '192.0.2.1', 'remote', '192.0.2.2']).status === 0
}

describe.skipIf(!root)('JUnit and Allure results of a run (needs root)', () => {
  let out: string
  let junit: ReturnType<typeof junitCases>

  beforeAll(async () => {
    out = path.join(dir, 'full')
    const r = await runCli(['run', FIXTURES, '--out', out])
    expect(r.code, r.output).toBe(1) // report-verdicts has a failing check
    junit = junitCases(path.join(out, 'reports', 'junit.xml'))
  }, TIMEOUT)

  const verdicts = path.join(FIXTURES, 'a-verdicts.yaml')
  const kernelSkip = path.join(FIXTURES, 'b-kernel-skip.yaml')

  test('classname is the scenario id; file and line point at the step in the YAML', () => {
    const step6 = junit.get('report-verdicts > step 6: [host01] ip link set v1 up')!
    expect(step6).toMatchObject({ classname: 'report-verdicts', file: path.relative(ROOT, verdicts), line: lineOf(verdicts, 'run: ip link set v1 up') })
    const tunnel = junit.get('report-kernel-skip > step 2: [host01] ip tunnel add tun1 mode ipip local 192.0.2.1 remote 192.0.2.2')!
    expect(tunnel).toMatchObject({ classname: 'report-kernel-skip', file: path.relative(ROOT, kernelSkip), line: lineOf(kernelSkip, '  - on: host01') })
    expect([...junit.values()].map((c) => c.classname).sort()).toEqual([...Array(4).fill('report-verdicts'), ...Array(3).fill('report-kernel-skip'), ...Array(3).fill('report-passes')].sort())
  })

  test('a failed check: the message is the one-line verdict, the body the whole error and the hint as the suggested fix', () => {
    const failed = junit.get('report-verdicts > step 5: link v1 on host01')!
    expect(failed.outcome).toMatchObject({ status: 'failed', type: 'CheckFailure', message: 'expected v1 on host01: state up; got down' })
    expect(failed.outcome.status === 'failed' && failed.outcome.detail).toMatch(/^expected v1 on host01: state up\n\s+got down\n[\s\S]*suggested fix: bring v1 up first: ip link set v1 up$/)
    expect(failed.systemOut).toContain('$ [host01] ip -j -d addr show dev v1')
  })

  test('a step after a failure is skipped with "blocked by step N"; a step needing what the kernel lacks says what and where', () => {
    expect(junit.get('report-verdicts > step 6: [host01] ip link set v1 up')!.outcome).toEqual({ status: 'skipped', message: 'blocked by step 5' })
    const tunnel = junit.get('report-kernel-skip > step 2: [host01] ip tunnel add tun1 mode ipip local 192.0.2.1 remote 192.0.2.2')!
    if (kernelHasIpip()) {
      expect(tunnel.outcome).toEqual({ status: 'passed' })
    } else {
      expect(tunnel.outcome).toEqual({ status: 'skipped', message: 'host01: kernel lacks ipip (CONFIG_NET_IPIP)' })
      expect(tunnel.systemOut).toMatch(/not run: host01: kernel lacks ipip[\s\S]*host01 \(kernel [^)]+\): ipip not usable: /)
    }
    // A skip does not block: the next step ran.
    expect(junit.get('report-kernel-skip > step 3: [host01] ip link show v1')!.outcome).toEqual({ status: 'passed' })
  })

  test('Allure: a skipped step has its reason in statusDetails and its transcript; a failed one shows the hint', () => {
    const resultsDir = path.join(out, 'allure-results')
    const results = readdirSync(resultsDir).filter((f) => f.endsWith('-result.json')).map((f) => JSON.parse(readFileSync(path.join(resultsDir, f), 'utf8')) as {
      name: string; status: string; statusDetails?: { message?: string }; attachments: Attachment[]; steps?: AllureStep[]
    })
    const blocked = results.find((r) => r.name === 'step 6: [host01] ip link set v1 up')!
    expect(blocked.status).toBe('skipped')
    expect(blocked.statusDetails?.message).toBe('blocked by step 5')
    const transcript = attachmentsOf(blocked).find((a) => a.name === 'transcript')!
    expect(readFileSync(path.join(resultsDir, transcript.source), 'utf8')).toBe('not run: blocked by step 5\n\nthe step, as the scenario gives it: [host01] ip link set v1 up')
    const failed = results.find((r) => r.name === 'step 5: link v1 on host01')!
    expect(failed.status).toBe('failed')
    expect(failed.statusDetails?.message).toMatch(/^expected v1 on host01: state up\n[\s\S]*suggested fix: bring v1 up first: ip link set v1 up$/)
  })

  test('the lab\'s facts: properties of each scenario\'s JUnit suite, and an Allure attachment on its first step', () => {
    const suites = parseJunit(readFileSync(path.join(out, 'reports', 'junit.xml'), 'utf8'))
    for (const id of ['report-verdicts', 'report-kernel-skip', 'report-passes']) {
      const props = suites.find((s) => s.properties?.scenario === id)?.properties
      expect(props, id).toMatchObject({ 'lab.backend': 'netns' })
      expect(Number(props!['lab.provisionMs']), id).toBeGreaterThan(0)
    }
    const resultsDir = path.join(out, 'allure-results')
    const results = readdirSync(resultsDir).filter((f) => f.endsWith('-result.json')).map((f) => JSON.parse(readFileSync(path.join(resultsDir, f), 'utf8')) as {
      name: string; attachments: Attachment[]; steps?: AllureStep[]; labels: Array<{ name: string; value: string }>; parameters?: Array<{ name: string; value: string }>
    })
    const scenarioOf = (r: (typeof results)[number]) => r.labels.find((l) => l.name === 'scenario')?.value
    const stepOf = (r: (typeof results)[number]) => Number(r.parameters?.find((p) => p.name === 'step')?.value)
    // Once per scenario, on its first step.
    const withFacts = results.filter((r) => attachmentsOf(r).some((a) => a.name === 'lab facts'))
    expect(withFacts.map(scenarioOf).sort()).toEqual(['report-kernel-skip', 'report-passes', 'report-verdicts'])
    for (const r of withFacts) expect(stepOf(r)).toBe(Math.min(...results.filter((x) => scenarioOf(x) === scenarioOf(r)).map(stepOf)))
    const facts = attachmentsOf(withFacts[0]!).find((a) => a.name === 'lab facts')!
    expect(readFileSync(path.join(resultsDir, facts.source), 'utf8')).toMatch(/^backend: netns\nprovisionMs: \d+$/)
    // An accelerator is a VM lab's fact: a netns lab has none to show.
    expect(results.flatMap((r) => r.parameters ?? []).filter((p) => p.name === 'accelerator')).toEqual([])
  })
})

interface Attachment { name: string; source: string }
interface AllureStep { attachments: Attachment[]; steps?: AllureStep[] }

/** A result's attachments, also those allure-js files under a step of their own. */
function attachmentsOf(r: AllureStep): Attachment[] {
  return [...r.attachments, ...(r.steps ?? []).flatMap(attachmentsOf)]
}

/** A scenario whose second step hangs on a `sleep` with a unique argument, to be seen running. */
async function hangingScenario(name: string): Promise<{ file: string; marker: string }> {
  const marker = `4242.${process.pid}${Math.floor(Math.random() * 1e6)}`
  const scenarios = path.join(dir, name, 'scenarios')
  await mkdir(scenarios, { recursive: true })
  const file = path.join(scenarios, 'stopped.yaml')
  await writeFile(file, `id: report-stopped
title: A run stopped midway
source: { doc: report-fixture.txt, section: four }
steps:
  - { on: host01, run: ip link add v1 type veth peer name v1_r }
  - on: host01
    run: sleep ${marker}
    timeoutMs: 300000
  - { on: host01, run: ip link show v1 }
  - check: { link: { on: host01, name: v1, exists: true } }
`)
  return { file, marker }
}

/** Resolves once a process runs `sleep MARKER`: the step is under way. */
async function stepRunning(run: CliRun, marker: string): Promise<void> {
  for (;;) {
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      let cmdline = ''
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      } catch {
        continue
      }
      if (cmdline === `sleep\0${marker}\0`) return
    }
    if (run.child.exitCode !== null) throw new Error(`labproof exited before the step ran:\n${run.output()}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe.skipIf(!root)('a run stopped midway (needs root)', () => {
  test('SIGINT to the process group: the step that was running and the ones after it are skipped "interrupted"', async () => {
    const { file, marker } = await hangingScenario('sigint')
    const out = path.join(dir, 'sigint', 'out')
    const run = startCli(['run', file, '--out', out])
    await stepRunning(run, marker)
    process.kill(-run.child.pid!, 'SIGINT')
    const { code } = await run.exited
    expect(code, run.output()).toBe(130)
    const cases = junitCases(path.join(out, 'reports', 'junit.xml'))
    expect([...cases.entries()].map(([name, c]) => [name, c.outcome])).toEqual([
      ['report-stopped > step 1: [host01] ip link add v1 type veth peer name v1_r', { status: 'passed' }],
      [`report-stopped > step 2: [host01] sleep ${marker}`, { status: 'skipped', message: 'interrupted: the run was stopped (SIGINT) while this step ran' }],
      ['report-stopped > step 3: [host01] ip link show v1', { status: 'skipped', message: 'interrupted: the run was stopped (SIGINT) before this step ran' }],
      ['report-stopped > step 4: link v1 on host01', { status: 'skipped', message: 'interrupted: the run was stopped (SIGINT) before this step ran' }],
    ])
  }, TIMEOUT)

  test('SIGKILL: reports/junit.xml is a complete file naming the steps that had not run, never a truncated one', async () => {
    const { file, marker } = await hangingScenario('sigkill')
    const out = path.join(dir, 'sigkill', 'out')
    const run = startCli(['run', file, '--out', out])
    await stepRunning(run, marker)
    // Killed once the file holds step 1's verdict (it is rewritten after every step).
    const junitFile = path.join(out, 'reports', 'junit.xml')
    while (!(existsSync(junitFile) && [...junitCases(junitFile).values()][0]?.outcome.status === 'passed')) await new Promise((r) => setTimeout(r, 100))
    process.kill(-run.child.pid!, 'SIGKILL')
    await run.exited
    expect(existsSync(junitFile)).toBe(true)
    const cases = [...junitCases(junitFile).values()] // throws on a truncated or empty file
    expect(cases.map((c) => c.outcome.status)).toEqual(['passed', 'skipped', 'skipped', 'skipped'])
    // Step 2 was under way; whether the last write saw it start depends on when it came.
    const messages = cases.slice(1).map((c) => (c.outcome.status === 'skipped' ? c.outcome.message : ''))
    expect(messages[0]).toMatch(/^interrupted: the run was stopped (while|before) this step ran$/)
    expect(messages.slice(1)).toEqual(Array(2).fill('interrupted: the run was stopped before this step ran'))
    // Nothing but complete files: no temporary file is named like a report.
    expect(readdirSync(path.join(out, 'reports')).filter((f) => f.endsWith('.xml'))).toEqual(['junit.xml'])
    // What the killed run left behind is swept (labs whose labproof process is gone).
    expect((await runCli(['clean'])).code).toBe(0)
  }, TIMEOUT)
})
