// A scenario with a wrong claim must fail, naming the step, what was expected and what came
// back; the rest of the scenario is blocked, and the run leaves nothing behind.
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, test } from 'vitest'
import { netnsNodePids } from '../helpers/leftovers.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const root = process.getuid?.() === 0
const temps: string[] = []
const runPids: number[] = []

async function runBroken(edit: (yaml: string) => string) {
  const dir = await mkdtemp(path.join(tmpdir(), 'labproof-broken-'))
  temps.push(dir)
  const scenarios = path.join(dir, 'scenarios')
  await mkdir(scenarios)
  const original = await readFile(path.join(ROOT, 'scenarios', '004-namespace-routing.yaml'), 'utf8')
  const broken = edit(original)
  expect(broken).not.toBe(original)
  await writeFile(path.join(scenarios, 'broken.yaml'), broken)
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'labproof.js'), 'run'], {
    cwd: ROOT,
    env: { ...process.env, LABPROOF_SCENARIO_DIR: scenarios, LABPROOF_OUTPUT_DIR: dir, NO_COLOR: '1', FORCE_COLOR: '0' },
    encoding: 'utf8',
    timeout: 120_000,
  })
  runPids.push(r.pid)
  return { status: r.status, output: r.stdout + r.stderr, dir, pid: r.pid }
}

afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true })
})

describe.skipIf(!root)('a wrong claim fails the run with a message that explains it (needs root)', () => {
  test('a wrong TTL', async () => {
    const r = await runBroken((y) => y.replace('expect: { reachable: true, ttl: 63 }', 'expect: { reachable: true, ttl: 64 }'))
    expect(r.status).toBe(1)
    expect(r.output).toMatch(/× \S+ › step 36: \[host01\] ip netns exec ns1 ping 10\.10\.20\.2/)
    expect(r.output).toContain('expected `ip netns exec ns1 ping 10.10.20.2` on host01: every reply with ttl 64')
    expect(r.output).toContain('got ttl 63')
    expect(r.output).toMatch(/64 bytes from 10\.10\.20\.2: icmp_seq=1 ttl=63/)
    expect(r.output).toMatch(/step 37: .*blocked by step 36/)
    const junit = await readFile(path.join(r.dir, 'reports', 'junit.xml'), 'utf8')
    expect(junit).toMatch(/failures="1"/)
  })

  test('a missing route', async () => {
    const r = await runBroken((y) => y.replace('  - { on: host01, run: ip netns exec ns2 route add -net 10.10.10.0 netmask 255.255.255.0 gw 10.10.20.1 }\n', ''))
    expect(r.status).toBe(1)
    expect(r.output).toContain('expected a route 10.10.10.0/24 via 10.10.20.1 dev v2 on host01/ns2')
    expect(r.output).toContain('got none in the table')
    expect(r.output).toContain('10.10.20.0/24 dev v2 scope link')
  })

  test('the runs left no host behind', () => {
    expect(runPids.length).toBe(2)
    for (const owner of runPids) expect(netnsNodePids({ owner })).toEqual([])
  })
})
