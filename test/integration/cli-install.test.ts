// labproof as a user gets it: `npm pack` (which builds dist/), then `npm i -D` of the tarball in a
// fresh folder with nothing else of labproof's around. From there the bin works (no intermediate
// shell, the compiled JavaScript: no TypeScript and no tsx loaded, in the CLI or its vitest
// worker; allure and vitest found wherever npm put them), `init` sets the folder up, a scenario
// of the user's own (VXLAN between Host 01 and Host 02) passes with --report, and
// `timeout npx labproof run` leaves nothing running.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { netnsNodePids, processes } from '../helpers/leftovers.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MODULE_LOG_HOOK = pathToFileURL(path.join(ROOT, 'test', 'fixtures', 'module-log', 'register.mjs')).href
const root = process.getuid?.() === 0
/** npm reaches the registry for labproof's dependencies (its cache makes it quick after once). */
const INSTALL_TIMEOUT_MS = 600_000
/** npm pack builds dist/ first (tsc: minutes on a loaded 2-core machine). */
const PACK_TIMEOUT_MS = 900_000

let work: string
let project: string

function sh(command: string, args: string[], cwd: string, timeoutMs = 300_000, env: Record<string, string> = {}) {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, NO_COLOR: '1', LABPROOF_OUTPUT_DIR: '', LABPROOF_SCENARIO_DIR: '', ...env } })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, out: `${r.stdout}\n${r.stderr}` }
}

const npx = (args: string[], timeoutMs?: number) => sh('npx', ['--no-install', 'labproof', ...args], project, timeoutMs)

/** The installed bin as npm scripts and CI run it, every module Node loads logged (in the CLI
 *  and, through NODE_OPTIONS, in vitest's worker). */
function installedBin(args: string[], log: string, timeoutMs?: number) {
  return sh(path.join(project, 'node_modules', '.bin', 'labproof'), args, project, timeoutMs, { NODE_OPTIONS: `--import=${MODULE_LOG_HOOK}`, LABPROOF_MODULE_LOG: log })
}

/** What a module log holds of TypeScript or tsx (nothing, for the compiled package). */
function typescriptLoaded(log: string): string[] {
  const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean)
  expect(urls.some((u) => u.includes('/node_modules/labproof/dist/'))).toBe(true)
  return urls.filter((u) => /\.[cm]?ts$|\/node_modules\/tsx\//.test(u))
}

const VXLAN = `# yaml-language-server: $schema=../node_modules/labproof/scenarios/schema.json
id: vxlan-between-hosts
title: A VXLAN overlay between Host 01 and Host 02
source: { doc: vxlan-lab.md, section: VXLAN }
requires: { kernel: [vxlan] }
steps:
  - { on: host01, run: ip link add vxlan100 type vxlan id 100 remote 192.168.21.12 dstport 4789 dev ens33 }
  - { on: host01, run: ip addr add 10.100.0.1/24 dev vxlan100 && ip link set vxlan100 up }
  - { on: host02, run: ip link add vxlan100 type vxlan id 100 remote 192.168.21.11 dstport 4789 dev ens33 }
  - { on: host02, run: ip addr add 10.100.0.2/24 dev vxlan100 && ip link set vxlan100 up }
  - check: { link: { on: host02, name: vxlan100, type: vxlan, state: up, addresses: [10.100.0.2/24] } }
  - check: { ping: { from: host01, to: 10.100.0.2, ttl: 64 } }
  - on: host01
    run: ping -c 2 10.100.0.2
    expect: { reachable: true }
    wire:
      - on: "host02:ens33"
        filter: udp port 4789
        match: { proto: vxlan, src: 192.168.21.11, dst: 192.168.21.12, vni: 100, inner: { proto: icmp, icmp: echo-request, src: 10.100.0.1, dst: 10.100.0.2 } }
`

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'labproof-install-'))
  const pack = sh('npm', ['pack', '--pack-destination', work], ROOT, PACK_TIMEOUT_MS)
  expect(pack.code, pack.out).toBe(0)
  const tarball = readdirSync(work).find((f) => /^labproof-.*\.tgz$/.test(f))
  expect(tarball, pack.out).toBeDefined()
  project = path.join(work, 'my-labs')
  expect(sh('mkdir', [project], work).code).toBe(0)
  expect(sh('npm', ['init', '-y'], project).code).toBe(0)
  const install = sh('npm', ['i', '-D', '--no-audit', '--no-fund', path.join(work, tarball!)], project, INSTALL_TIMEOUT_MS)
  expect(install.code, install.out).toBe(0)
}, PACK_TIMEOUT_MS + INSTALL_TIMEOUT_MS + 60_000)

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true })
})

describe('installed from a packed tarball', () => {
  test('the package holds what a user needs, compiled, and not the tests, the benchmarks or the TypeScript', () => {
    const pkg = path.join(project, 'node_modules', 'labproof')
    for (const f of ['bin/labproof.js', 'dist/cli/cli.js', 'dist/cli/cli.js.map', 'dist/cli/allurerc.json', 'dist/harness/cli.js', 'dist/harness/cli.js.map', 'dist/scenarios/labs.test.js', 'dist/harness/report/allurerc.json', 'scenarios/schema.json', 'vagrant/Vagrantfile', 'ci/setup.sh', 'README.md']) {
      expect(existsSync(path.join(pkg, f)), f).toBe(true)
    }
    for (const f of ['test', 'bench', 'tools', 'harness', 'scenarios/labs.test.ts', 'vitest.config.ts', 'vagrant/.vagrant']) expect(existsSync(path.join(pkg, f)), f).toBe(false)
    // tsx is labproof's devDependency only: nothing installed could run TypeScript.
    expect(existsSync(path.join(project, 'node_modules', 'tsx')), 'node_modules/tsx').toBe(false)
    // The source maps carry the TypeScript they map to: tsc's of dist/harness/, and the bundled
    // command line's (dist/cli/), whose sources include harness/cli.ts.
    const map = JSON.parse(readFileSync(path.join(pkg, 'dist/harness/cli.js.map'), 'utf8')) as { sourcesContent?: string[] }
    expect(map.sourcesContent?.[0]).toMatch(/^\/\/ `labproof <command>`/)
    const bundleMap = JSON.parse(readFileSync(path.join(pkg, 'dist/cli/cli.js.map'), 'utf8')) as { sources: string[]; sourcesContent?: string[] }
    const cliSource = bundleMap.sources.findIndex((s) => s.endsWith('harness/cli.ts'))
    expect(bundleMap.sourcesContent?.[cliSource]).toMatch(/^\/\/ `labproof <command>`/)
    expect(readdirSync(path.join(pkg, 'scenarios')).filter((f) => f.endsWith('.yaml')).length).toBeGreaterThan(0)
  })

  test('the bin is node itself, no shell in between', () => {
    const bin = path.join(project, 'node_modules', '.bin', 'labproof')
    expect(readlinkSync(bin)).toBe('../labproof/bin/labproof.js')
    expect(readFileSync(realpathSync(bin), 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node')
  })

  test('--version, list (the shipped examples while the folder has none), clean, and every --help', () => {
    expect(npx(['--version'])).toMatchObject({ code: 0, stdout: `${(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n` })
    const listLog = path.join(work, 'list-modules.log')
    const list = installedBin(['list'], listLog)
    expect(list.code, list.out).toBe(0)
    expect(list.stdout).toMatch(/^namespace-routing$/m)
    expect(typescriptLoaded(listLog)).toEqual([])
    expect(npx(['errata']).code).toBe(0)
    expect(npx(['clean'])).toMatchObject({ code: 0 })
    for (const args of [['image', 'build', '--help'], ['grade', '--help'], ['run', '--help'], ['init', '--help']]) {
      const r = npx(args)
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' })
    }
  }, 300_000)

  test('init writes the example scenario (its schema reference resolves) and the CI workflow', () => {
    const r = npx(['init'])
    expect(r.code, r.out).toBe(0)
    const example = readFileSync(path.join(project, 'scenarios', 'example.yaml'), 'utf8')
    const reference = /^# yaml-language-server: \$schema=(\S+)$/m.exec(example)?.[1]
    expect(reference).toBeDefined()
    const schema = JSON.parse(readFileSync(path.resolve(project, 'scenarios', reference!), 'utf8')) as { $id?: string }
    expect(schema.$id).toMatch(/labproof/)
    expect(readFileSync(path.join(project, '.github', 'workflows', 'labproof.yml'), 'utf8')).toMatch(/^jobs:/m)
    // A second init keeps what is there.
    expect(npx(['init']).stdout).toMatch(/^kept\s+scenarios\/example\.yaml/m)
    expect(sh('npx', ['--no-install', 'labproof', 'list'], project).stdout).toMatch(/^example-veth$/m)
  }, 300_000)

  test.skipIf(!root)('run of the user\'s own VXLAN scenario and the init example, by file, with --report (needs root)', async () => {
    await writeFile(path.join(project, 'scenarios', 'vxlan.yaml'), VXLAN)
    const log = path.join(work, 'run-modules.log')
    const r = installedBin(['run', 'scenarios/vxlan.yaml', 'scenarios/example.yaml', '--report'], log, 600_000)
    expect(r.code, r.out).toBe(0)
    expect(typescriptLoaded(log)).toEqual([])
    const junit = readFileSync(path.join(project, 'reports', 'junit.xml'), 'utf8')
    expect(junit).toMatch(/classname="vxlan-between-hosts"/)
    expect(junit).toMatch(/classname="example-veth"/)
    expect(junit).not.toMatch(/<failure|<error/)
    expect(existsSync(path.join(project, 'allure-report', 'index.html'))).toBe(true)
    expect(r.stdout).toContain(path.join(project, 'allure-report', 'index.html'))
  }, 700_000)

  test.skipIf(!root)('`timeout npx labproof run` stopped mid-step leaves no labproof process and no lab (needs root)', async () => {
    const marker = `${8000 + Math.floor(Math.random() * 1000)}.${process.pid}`
    await writeFile(path.join(project, 'hang.yaml'), `id: hang\ntitle: A step that hangs\nsource: { doc: hang.txt, section: one }\nsteps:\n  - { on: host01, run: ip netns add ns1 }\n  - { on: host01, run: sleep ${marker}, timeoutMs: 300000 }\n`)
    // timeout in a session of its own, as in a CI step; signalled the moment the step hangs, it
    // does what it does when its time is up: SIGTERM to npx and to the process group.
    const run = spawn('timeout', ['600', 'npx', '--no-install', 'labproof', 'run', 'hang.yaml', '--out', 'hang-out'], { cwd: project, detached: true, stdio: 'ignore', env: { ...process.env, NO_COLOR: '1' } })
    const exited = new Promise<number | null>((r) => run.on('exit', (code) => r(code)))
    const session = run.pid!
    const inSession = () => processes().filter((p) => sessionOf(p.pid) === session)
    const deadline = Date.now() + 300_000
    while (!processes().some((p) => p.argv[0] === 'sleep' && p.argv[1] === marker)) {
      if (Date.now() > deadline) throw new Error('the hanging step never started')
      await new Promise((r) => setTimeout(r, 50))
    }
    const labproofPid = inSession().find((p) => p.argv.some((a) => a.endsWith('/.bin/labproof')) && p.argv.includes('run'))?.pid
    expect(labproofPid).toBeDefined()
    // The labs belong to labproof's process (their nodes are marked with its PID).
    const owners = inSession().map((p) => p.pid)
    const labNodes = () => owners.flatMap((owner) => netnsNodePids({ owner }))
    expect(labNodes().length).toBeGreaterThan(0)
    process.kill(run.pid!, 'SIGTERM')
    await exited
    while (inSession().length > 0) {
      if (Date.now() > deadline) throw new Error(`still running: ${inSession().map((p) => p.argv.join(' ')).join('; ')}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(labNodes()).toEqual([])
    expect(processes().some((p) => p.argv[0] === 'sleep' && p.argv[1] === marker)).toBe(false)
  }, 400_000)
})

/** The session a process is in (field 6 of /proc/PID/stat), or undefined when it is gone. */
function sessionOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3])
  } catch {
    return undefined
  }
}
