// `labproof run` interrupted by real signals at different moments leaves nothing behind: SIGINT
// and SIGTERM while the lab is provisioned, in the middle of a step, in the middle of a capture
// (netns, and docker when an engine answers); SIGKILL, after which the netns lab dies with the
// run (pdeathsig), and whatever a SIGKILLed run leaves is swept by the next run and by
// `labproof clean`. Two runs at once do not collide.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { NETNS_MARKER } from '../../harness/backends/shared/namespace-node.ts'
import { QEMU_MARKER } from '../../harness/backends/qemu/qemu.ts'
import { PCAP_TEMP_PREFIX } from '../../harness/capture/tcpdump.ts'
import { currentOwner, ownerAlive, ownerTag, type Owner } from '../../harness/ownership/owner.ts'
import { leftovers, processes, rootNetnsEntries, totalLeftovers } from '../helpers/leftovers.ts'
import { describeWithEngine, dockerMissing } from '../helpers/engines.ts'
import { waitUntil } from '../helpers/wait.ts'
import { deadOwner } from '../helpers/owner-process.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = path.join(ROOT, 'bin', 'labproof.js')
const root = process.getuid?.() === 0

let dir: string
let rootNetnsBefore: string[]

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'labproof-interrupts-'))
  rootNetnsBefore = rootNetnsEntries()
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** A lab with a namespace, a veth and a ping, then a step that hangs on a marked `sleep`
 *  (with a capture running, or not): the moment to interrupt is when that sleep is seen. */
function scenario(marker: string, withCapture: boolean): string {
  return `id: interrupt-me
title: A run to interrupt
source: { doc: test.txt, section: test }
steps:
  - { on: host01, run: ip netns add ns1 }
  - { on: host01, run: ip link add v1 type veth peer name v1_r }
  - { on: host01, run: ip link set v1 netns ns1 }
  - { on: host01, run: ip addr add 10.10.10.1/24 dev v1_r && ip link set v1_r up }
  - { on: host01/ns1, run: ip addr add 10.10.10.2/24 dev v1 && ip link set v1 up }
  - on: host01/ns1
    run: ping -c 2 -i 0.2 10.10.10.1
    capture: [{ on: "host01:v1_r" }]
  - on: host01
    run: sleep ${marker}
    timeoutMs: 120000
${withCapture ? '    capture: [{ on: "host01:ens33" }, { on: "host01/ns1:v1" }]\n' : ''}`
}

interface Run {
  child: ChildProcess
  output: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Every process ever seen below the CLI (its lab's nodes and commands). */
  seen: Set<number>
  /** Their start times: a PID seen again later may be another process's. */
  started: Map<number, number>
}

async function startRun(name: string, yaml: string, args: string[] = [], env: Record<string, string> = {}): Promise<Run> {
  const scenarios = path.join(dir, name, 'scenarios')
  await mkdir(scenarios, { recursive: true })
  await writeFile(path.join(scenarios, 'interrupt-me.yaml'), yaml)
  const child = spawn(process.execPath, [CLI, 'run', ...args], {
    cwd: ROOT,
    env: { ...process.env, LABPROOF_SCENARIO_DIR: scenarios, LABPROOF_OUTPUT_DIR: path.join(dir, name), NO_COLOR: '1', FORCE_COLOR: '0', TESTCONTAINERS_RYUK_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d) => (out += String(d)))
  child.stderr!.on('data', (d) => (out += String(d)))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  return { child, output: () => out, exited, seen: new Set([child.pid!]), started: new Map() }
}

/** Processes below the CLI now (recorded in run.seen as they come). */
function descendants(run: Run): ReturnType<typeof processes> {
  const procs = processes()
  let grew = true
  while (grew) {
    grew = false
    for (const p of procs) if (run.seen.has(p.ppid) && !run.seen.has(p.pid)) { run.seen.add(p.pid); grew = true }
  }
  const found = procs.filter((p) => run.seen.has(p.pid))
  for (const p of found) if (!run.started.has(p.pid)) run.started.set(p.pid, p.started)
  return found
}

async function waitFor(run: Run, what: string, found: (procs: ReturnType<typeof processes>) => boolean, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!found(descendants(run))) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; output:\n${run.output()}`)
    if (run.child.exitCode !== null) throw new Error(`the run ended before ${what}:\n${run.output()}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const isNode = (p: { argv: string[] }) => p.argv.some((a) => a.startsWith(`${NETNS_MARKER}:`))
const isSleep = (marker: string) => (p: { argv: string[] }) => p.argv[0] === 'sleep' && p.argv[1] === marker

/** Nothing of this run is left: no process it started, nothing stale anywhere. */
async function expectNothingLeft(run: Run): Promise<void> {
  let alive: ReturnType<typeof processes> = []
  for (let i = 0; i < 100; i++) {
    alive = processes().filter((p) => run.seen.has(p.pid) && (run.started.get(p.pid) ?? p.started) === p.started)
    if (alive.length === 0) break
    await new Promise((r) => setTimeout(r, 100))
  }
  expect(alive.map((p) => `${p.pid} ${p.argv.join(' ')}`), run.output()).toEqual([])
  const left = await leftovers({ rootNetnsBefore, owners: run.seen })
  expect(totalLeftovers(left), JSON.stringify(left, null, 2)).toBe(0)
  // This run's capture copies carried its PID.
  const temps = readdirSync(tmpdir()).filter((n) => [...run.seen].some((pid) => n.startsWith(`${PCAP_TEMP_PREFIX}${pid}-`)))
  expect(temps).toEqual([])
}

function markerSleep(): string {
  return `${5000 + (randomBytes(2).readUInt16BE() % 1000)}.${randomBytes(3).readUIntBE(0, 3)}`
}

const moments = [
  { name: 'while the lab is provisioned', capture: false, at: 'provisioning' },
  { name: 'in the middle of a step', capture: false, at: 'step' },
  { name: 'in the middle of a capture', capture: true, at: 'capture' },
] as const

describe.skipIf(!root)('labproof run interrupted on the netns backend (needs root)', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    for (const moment of moments) {
      test(`${signal} ${moment.name}: exits ${signal === 'SIGINT' ? 130 : 143}, nothing left`, async () => {
        const marker = markerSleep()
        const run = await startRun(`${signal}-${moment.at}`, scenario(marker, moment.capture))
        if (moment.at === 'provisioning') await waitFor(run, 'netns node', (ps) => ps.some(isNode))
        else if (moment.at === 'step') await waitFor(run, 'the hanging step', (ps) => ps.some(isSleep(marker)))
        else await waitFor(run, 'the hanging step with its captures', (ps) => ps.some(isSleep(marker)) && ps.filter((p) => p.comm === 'tcpdump').length >= 2)
        run.child.kill(signal)
        const end = await Promise.race([run.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 40_000))])
        expect(end, run.output()).not.toBe('hung')
        expect(end).toEqual({ code: signal === 'SIGINT' ? 130 : 143, signal: null })
        expect(run.output()).toContain(`labproof: ${signal}: stopping the run and removing its labs`)
        await expectNothingLeft(run)
      }, 150_000)
    }
  }

  test('SIGKILL of the CLI mid-capture: its lab and captures go with it', async () => {
    const marker = markerSleep()
    const run = await startRun('sigkill', scenario(marker, true))
    await waitFor(run, 'the hanging step with its captures', (ps) => ps.some(isSleep(marker)) && ps.some((p) => p.comm === 'tcpdump'))
    run.child.kill('SIGKILL')
    expect(await run.exited).toEqual({ code: null, signal: 'SIGKILL' })
    await expectNothingLeft(run)
  }, 150_000)
})

describe.skipIf(!root)('what a SIGKILLed run leaves is swept (needs root)', () => {
  function exitOf(child: ChildProcess): Promise<NodeJS.Signals | number | 'still running'> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode ?? child.exitCode!)
    return new Promise((r) => {
      const timer = setTimeout(() => r('still running'), 5_000)
      child.once('exit', (code, signal) => { clearTimeout(timer); r(signal ?? code!) })
    })
  }


  /** A netns node as labproof starts one, marked as `owner`'s; resolves once its shell runs. */
  async function plantNode(labId: string, owner: Owner): Promise<ChildProcess> {
    const node = spawn('sh', ['-c', 'echo ready; sleep 600', `${NETNS_MARKER}:${labId}:${ownerTag(owner)}:host-01`], { stdio: ['ignore', 'pipe', 'ignore'] })
    await new Promise((resolve, reject) => {
      node.stdout!.once('data', resolve)
      node.once('exit', (code) => reject(new Error(`the planted node exited (${code})`)))
    })
    return node
  }

  /** What a run killed at the wrong moment can leave: nodes whose owner is gone (as if pdeathsig
   *  had not fired): one of a dead owner, one whose owner's PID now belongs to another process
   *  (this test's, started at another time); a capture copy of a dead owner, and with `qemu` a
   *  qemu overlay dir of it (another backend's: a netns run leaves it to a qemu run or a clean). */
  async function plantLeftovers(qemu: boolean): Promise<{ nodes: ChildProcess[]; dirs: string[]; owners: Set<number> }> {
    const dead = await deadOwner()
    expect(ownerAlive(dead)).toBe(false)
    const reused = { pid: process.pid, started: currentOwner().started! - 1 }
    expect(ownerAlive(reused)).toBe(false)
    const nodes = [await plantNode(`lpplanted${dead.pid}`, dead), await plantNode(`lpreused${dead.pid}`, reused)]
    const dirs = [path.join(tmpdir(), `${PCAP_TEMP_PREFIX}${dead.pid}-planted`), ...(qemu ? [path.join(tmpdir(), `${QEMU_MARKER}-lpplanted-${dead.pid}-x`)] : [])]
    for (const d of dirs) await mkdir(d, { recursive: true })
    await writeFile(path.join(dirs[0]!, 'capture.pcap'), 'x')
    return { nodes, dirs, owners: new Set([dead.pid]) }
  }

  test('by the next run, before its first lab', async () => {
    // Another labproof run starting on this machine meanwhile may sweep them first: try again.
    let planted: Awaited<ReturnType<typeof plantLeftovers>> | undefined
    let run: Run | undefined
    for (let attempt = 0; attempt < 3; attempt++) {
      planted = await plantLeftovers(false)
      run = await startRun(`next-run-${attempt}`, scenario(markerSleep(), false).replace(/  - on: host01\n    run: sleep [\d.]+\n    timeoutMs: 120000\n/, ''))
      const end = await run.exited
      expect(end.code, run.output()).toBe(0)
      if (planted.nodes.every((n) => run!.output().includes(`(pid ${n.pid})`))) break
    }
    if (!planted || !run) throw new Error('unreachable')
    expect(run.output()).toContain('labproof: removed what earlier runs left behind:')
    for (const node of planted.nodes) {
      expect(run.output()).toContain(`(pid ${node.pid})`)
      expect(await exitOf(node)).toBe('SIGKILL')
    }
    for (const d of planted.dirs) expect(run.output()).toContain(d)
    await expectNothingLeft(run)
  }, 150_000)

  // What is asserted is the machine's state once clean has run, not who cleaned: another run
  // starting on this machine meanwhile may rightly sweep the same leftovers first.
  test('by labproof clean', async () => {
    const planted = await plantLeftovers(true)
    const clean = spawn(process.execPath, [CLI, 'clean'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    clean.stdout!.on('data', (d) => (out += String(d)))
    const code = await new Promise((r) => clean.on('exit', r))
    expect(code, out).toBe(0)
    expect(out).toMatch(/^(removed:\n|nothing left behind\n$)/)
    for (const node of planted.nodes) expect(await exitOf(node), out).toBe('SIGKILL')
    for (const d of planted.dirs) expect(existsSync(d), out).toBe(false)
    expect(totalLeftovers(await leftovers({ rootNetnsBefore, owners: new Set([...planted.owners, process.pid]) }))).toBe(0)
  }, 60_000)
})

describe.skipIf(!root)('two runs at once on one machine (needs root)', () => {
  test('both pass, each with its own results, and nothing is left', async () => {
    const yaml = await readFile(path.join(ROOT, 'scenarios', '004-namespace-routing.yaml'), 'utf8')
    const runs = await Promise.all(['first', 'second'].map((name) => startRun(`concurrent-${name}`, yaml)))
    const ends = await Promise.all(runs.map((r) => r.exited))
    for (const [i, end] of ends.entries()) expect(end.code, runs[i]!.output()).toBe(0)
    for (const name of ['first', 'second']) {
      const junit = await readFile(path.join(dir, `concurrent-${name}`, 'reports', 'junit.xml'), 'utf8')
      expect(junit).toMatch(/failures="0"/)
      expect(junit).toContain('namespace-routing')
    }
    for (const r of runs) await expectNothingLeft(r)
  }, 300_000)
})

const dockerGone = root ? await dockerMissing() : 'needs root'

/** The docker containers the run's processes made (labelled with their PIDs). */
async function containersOf(run: Run): Promise<string[]> {
  descendants(run)
  const { dockerClient } = await import('../../harness/backends/docker/docker-image.ts')
  const { LABEL_LAB, LABEL_RUN } = await import('../../harness/backends/docker/docker-reaper.ts')
  const list = await (await dockerClient()).listContainers({ all: true, filters: JSON.stringify({ label: [LABEL_LAB] }) })
  return list.filter((c) => run.seen.has(Number(c.Labels[LABEL_RUN]))).map((c) => c.Id)
}

describeWithEngine('docker', dockerGone, 'labproof run interrupted on the docker backend', () => {
  for (const [signal, moment] of [['SIGINT', moments[1]], ['SIGTERM', moments[0]], ['SIGTERM', moments[2]]] as const) {
    test(`${signal} ${moment.name}: containers and networks are removed`, async () => {
      const marker = markerSleep()
      const run = await startRun(`docker-${signal}-${moment.at}`, scenario(marker, moment.capture), ['--backend', 'docker'])
      // Provisioning: the moment its first container exists, before the lab is up.
      if (moment.at === 'provisioning') await waitUntil('a container of the run', async () => (await containersOf(run)).length > 0, 300_000)
      else await waitFor(run, 'the hanging step', () => processes().some(isSleep(marker)))
      run.child.kill(signal)
      const end = await Promise.race([run.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 60_000))])
      expect(end, run.output()).toEqual({ code: signal === 'SIGINT' ? 130 : 143, signal: null })
      await expectNothingLeft(run)
      expect(processes().some(isSleep(marker))).toBe(false)
    }, 300_000)
  }

  test('SIGKILL of the CLI and its children: labproof clean removes the containers and networks', async () => {
    const marker = markerSleep()
    const run = await startRun('docker-sigkill', scenario(marker, false), ['--backend', 'docker'])
    await waitFor(run, 'the hanging step', () => processes().some(isSleep(marker)), 300_000)
    const children = descendants(run).filter((p) => p.ppid === run.child.pid)
    for (const p of [run.child.pid!, ...children.map((c) => c.pid)]) process.kill(p, 'SIGKILL')
    await run.exited
    await waitUntil('the killed children to be gone', () => children.every((c) => !ownerAlive({ pid: c.pid, started: c.started })))
    const before = await leftovers({ rootNetnsBefore, owners: run.seen })
    expect(before.dockerContainers.length, JSON.stringify(before)).toBe(4)
    expect(before.dockerNetworks.length).toBe(2)
    const clean = spawn(process.execPath, [CLI, 'clean'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    clean.stdout!.on('data', (d) => (out += String(d)))
    expect(await new Promise((r) => clean.on('exit', r))).toBe(0)
    for (const c of before.dockerContainers) expect(out).toContain(c.replace(/^\//, ''))
    for (const n of before.dockerNetworks) expect(out).toContain(n)
    await expectNothingLeft(run)
    expect(processes().some(isSleep(marker))).toBe(false)
  }, 400_000)
})
