// Skips accounted for, end to end: a feature probe that wrongly reports vxlan missing (an `ip`
// on PATH that fails only the probe's trial device, lp-vxlan, as a broken host would) makes the
// netns run skip a vxlan step. The run alone stays green; with the baseline taken from a healthy
// run it is red, and names the step and the reason.
import { spawn } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { readStepRecords, type BaselineFile } from '../../harness/baseline.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = path.join(ROOT, 'bin', 'labproof.js')
const root = process.getuid?.() === 0

const SCENARIO = `id: vxlan-probe
title: A vxlan device on the underlay
source: { doc: none.txt, section: none }
steps:
  - { on: host01, run: ip link add vx0 type vxlan id 42 dstport 4789 dev ens33, added: true }
  - { check: { link: { on: host01, name: vx0, type: vxlan } }, requires: { kernel: [vxlan] } }
`

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'run', ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout!.on('data', (d) => (output += String(d)))
    child.stderr!.on('data', (d) => (output += String(d)))
    child.on('exit', (code) => resolve({ code, output }))
  })
}

describe.skipIf(!root)('a run checked against its baseline of expected skips (needs root)', () => {
  let dir: string
  let scenarios: string
  let brokenPath: string

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'labproof-baseline-'))
    scenarios = path.join(dir, 'scenarios')
    await mkdir(scenarios)
    await writeFile(path.join(scenarios, 'vxlan-probe.yaml'), SCENARIO)
    // The broken probe: `ip link add lp-vxlan type vxlan …` fails as on a kernel without vxlan;
    // every other `ip` command, the scenario's own vxlan device included, is the real one. It
    // has no -batch (as BusyBox's ip), so the probe tries each link kind as a command of its own.
    const bin = path.join(dir, 'broken-probe-bin')
    await mkdir(bin)
    await writeFile(path.join(bin, 'ip'), [
      '#!/bin/sh',
      'case " $* " in *" -batch "*) echo "Option -batch is unknown" >&2; exit 255 ;; esac',
      'case " $* " in *" lp-vxlan "*) echo "Error: Unknown device type." >&2; exit 2 ;; esac',
      'exec /usr/sbin/ip "$@"',
      '',
    ].join('\n'))
    await chmod(path.join(bin, 'ip'), 0o755)
    brokenPath = `${bin}:${process.env.PATH}`
  })
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('a healthy run writes a baseline with no skips; a wrongly missing vxlan is green alone and red against it', async () => {
    const baseline = path.join(dir, 'netns.json')
    const healthy = await run([scenarios, '--out', path.join(dir, 'healthy'), '--write-baseline', baseline], {})
    expect(healthy.code, healthy.output).toBe(0)
    expect((JSON.parse(await readFile(baseline, 'utf8')) as BaselineFile).cells).toEqual({ netns: [] })

    const unchecked = await run([scenarios, '--out', path.join(dir, 'unchecked')], { PATH: brokenPath })
    expect(unchecked.code, unchecked.output).toBe(0)
    const records = await readStepRecords(path.join(dir, 'unchecked', 'reports', 'run'))
    expect(records.map((r) => [r.step, r.status, r.reason])).toEqual([
      [1, 'skipped', 'host01: kernel lacks vxlan (CONFIG_VXLAN)'],
      [2, 'skipped', 'host01: kernel lacks vxlan (CONFIG_VXLAN)'],
    ])

    const checked = await run([scenarios, '--out', path.join(dir, 'checked'), '--baseline', baseline], { PATH: brokenPath })
    expect(checked.code, checked.output).toBe(1)
    expect(checked.output).toContain(`labproof: baseline ${baseline}: 2 steps were skipped that it does not expect`)
    expect(checked.output).toMatch(/netns: vxlan-probe step 1 skipped: host01: kernel lacks vxlan/)
    expect(checked.output).toMatch(/netns: vxlan-probe step 2 skipped: host01: kernel lacks vxlan/)
    // The steps themselves did not fail: only the baseline turned the run red.
    expect(await readFile(path.join(dir, 'checked', 'reports', 'junit.xml'), 'utf8')).toMatch(/<testsuites [^>]*failures="0"/)
  }, 300_000)

  test('a baseline that cannot be read stops the run before any lab', async () => {
    const r = await run([scenarios, '--out', path.join(dir, 'nofile'), '--baseline', path.join(dir, 'nope.json')], {})
    expect(r.code).toBe(1)
    expect(r.output).toContain(`cannot read the baseline ${path.join(dir, 'nope.json')}: it does not exist (make one with --write-baseline)`)
    expect(r.output).not.toMatch(/step 1/)
  })
})
