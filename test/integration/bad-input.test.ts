// Mistakes a user makes, through the real CLI: each is answered with one line `labproof: …`
// that names the file, line, field or requirement and what to do, a non-zero exit code, and
// no stack trace. (The loader's own cases, one per kind of malformed file, are in
// test/unit/scenario-loader.test.ts; here they go through the command line.)
import { spawn } from 'node:child_process'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { CHECK_KIND_NAMES } from '../../harness/checks/index.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = path.join(ROOT, 'bin', 'labproof.js')
const root = process.getuid?.() === 0

const VALID = `id: tiny
title: A tiny scenario
source: { doc: tiny.txt, section: one }
steps:
  - { on: host01, run: ip netns add ns1 }
  - check: { link: { on: host01/ns1, name: lo } }
`

interface CliResult { code: number | null; stdout: string; stderr: string }

function cli(args: string[], env: Record<string, string> = {}, opts: { asNobody?: boolean } = {}): Promise<CliResult> {
  const [file, argv] = opts.asNobody
    ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, ...args]]
    : [process.execPath, [CLI, ...args]]
  return new Promise((resolve, reject) => {
    const child = spawn(file as string, argv as string[], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += String(d)))
    child.stderr.on('data', (d) => (stderr += String(d)))
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

let dir: string
let scenarios: string
let output: string

/** A scenario folder holding `files` (name → YAML), for LABPROOF_SCENARIO_DIR. */
async function folder(name: string, files: Record<string, string>): Promise<string> {
  const d = path.join(dir, name)
  await mkdir(d, { recursive: true })
  for (const [f, text] of Object.entries(files)) await writeFile(path.join(d, f), text)
  return d
}

/** The one-line answer: `labproof: …` matching `message`, the exit code, no stack trace. */
function expectOneLine(r: CliResult, message: RegExp, code = r.code) {
  expect(r.code, `exit code; stderr:\n${r.stderr}`).not.toBe(0)
  expect(r.code).toBe(code)
  const lines = r.stderr.trimEnd().split('\n')
  expect(lines, r.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(/^labproof: /)
  expect(lines[0]).toMatch(message)
  expect(r.stderr + r.stdout).not.toMatch(/^\s+at |\n\s+at |❯|Error:/)
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'labproof-bad-input-'))
  await chmod(dir, 0o755) // the CLI also runs as nobody here
  scenarios = await folder('valid', { 'tiny.yaml': VALID })
  output = path.join(dir, 'out')
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const env = () => ({ LABPROOF_SCENARIO_DIR: scenarios, LABPROOF_OUTPUT_DIR: output })

describe.concurrent('the command line', () => {
  test('an unknown command', async () => {
    expectOneLine(await cli(['frob'], env()), /unknown command "frob"; the commands are run, list, errata, review, clean, image, grade, endstate, init, draft, check-source, report \(labproof --help/, 2)
  })

  test('an unknown option', async () => {
    expectOneLine(await cli(['run', '--frob'], env()), /^labproof: run: unknown option --frob \(labproof run --help shows the options\)$/, 2)
  })

  test('an option without its value', async () => {
    expectOneLine(await cli(['run', '--backend'], env()), /run: option --backend needs a value/, 2)
  })

  test('an argument a command does not take', async () => {
    expectOneLine(await cli(['clean', 'extra'], env()), /clean: unexpected argument "extra"/, 2)
  })

  test('an unknown backend', async () => {
    expectOneLine(await cli(['run', '--backend', 'lxc'], env()), /unknown backend "lxc"; choose one of: netns, docker, qemu/, 2)
  })

  test('a scenario id that does not exist', async () => {
    expectOneLine(await cli(['run', 'nope'], env()), /no scenario with id "nope"; known scenarios: tiny$/)
  })

  test('--kernel on the netns backend, which runs on this machine\'s kernel', async () => {
    expectOneLine(await cli(['run', '--kernel', '6.1'], env()), /^labproof: the netns backend has no option --kernel \(it takes none\); --kernel is an option of qemu \(add --backend qemu\)$/, 2)
  })

  test('errata with an unknown option', async () => {
    expectOneLine(await cli(['errata', '--csv'], env()), /errata: unknown option --csv/, 2)
  })

  test('image build of a distro labproof does not build', async () => {
    expectOneLine(await cli(['image', 'build', '--distro', 'sid'], env()), /unknown distro "sid"; choose from bookworm, trixie, bullseye/, 2)
  })

  test('grade: a malformed target', async () => {
    expectOneLine(await cli(['grade', '--scenario', 'tiny', '--target', 'ftp://10.0.0.5'], env()), /--target: "ftp:\/\/10\.0\.0\.5" is not a target; the forms are ssh:\/\/user@host\[:port\], local, or docker:CONTAINER/, 2)
  })

  test('grade: a scenario that does not exist', async () => {
    const r = await cli(['grade', '--scenario', 'nope', '--target', 'local'], env())
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^labproof: no scenario with id "nope"; known scenarios: tiny/)
  })

  test('grade: --jobs that is not a positive number', async () => {
    const csv = path.join(dir, 'class.csv')
    await writeFile(csv, 'name,target,identity\nalice,local,\n')
    expectOneLine(await cli(['grade', '--scenario', 'tiny', '--targets', csv, '--jobs', '0'], env()), /--jobs wants a positive whole number, not "0"/, 2)
  })

  test('grade: a class file that does not exist', async () => {
    expectOneLine(await cli(['grade', '--scenario', 'tiny', '--targets', path.join(dir, 'no-class.csv')], env()), /no-class\.csv: no such file \(--targets\)$/)
  })
})

describe.concurrent('scenario files (LABPROOF_SCENARIO_DIR)', () => {
  const broken = (text: string) => text

  test('a scenario folder that does not exist', async () => {
    expectOneLine(await cli(['list'], { LABPROOF_SCENARIO_DIR: path.join(dir, 'no-such-folder') }), /cannot read the scenario folder .*no-such-folder \(LABPROOF_SCENARIO_DIR\): it does not exist/)
  })

  test('a folder with no scenario file', async () => {
    expectOneLine(await cli(['list'], { LABPROOF_SCENARIO_DIR: await folder('empty', { 'notes.txt': 'x' }) }), /no scenario files \(\*\.yaml\) in .*empty \(LABPROOF_SCENARIO_DIR\)/)
  })

  test('malformed YAML: file, line and column', async () => {
    const d = await folder('yaml', { 'tiny.yaml': VALID, 'broken.yaml': broken('id: broken\ntitle: [unclosed\nsteps: []\n') })
    expectOneLine(await cli(['run'], { LABPROOF_SCENARIO_DIR: d }), /broken\.yaml:\d+:\d+: not valid YAML/)
  })

  test('an unknown field, with its path', async () => {
    const d = await folder('field', { 'broken.yaml': VALID.replace('  - { on: host01, run: ip netns add ns1 }', '  - { on: host01, run: ip netns add ns1, expected: { exitCode: 0 } }') })
    expectOneLine(await cli(['list'], { LABPROOF_SCENARIO_DIR: d }), /broken\.yaml:5:\d+: steps\[0\]\.expected: unknown field "expected"/)
  })

  test('an unknown host in on:', async () => {
    const d = await folder('host', { 'broken.yaml': VALID.replace('on: host01, run', 'on: host03, run') })
    expectOneLine(await cli(['run'], { LABPROOF_SCENARIO_DIR: d }), /broken\.yaml:5:\d+: steps\[0\]\.on: unknown host "host03"; this scenario's hosts are host01, host02, gateway, internet/)
  })

  test('a check of an unknown kind, with the kinds there are', async () => {
    const d = await folder('kind', { 'broken.yaml': VALID.replace('check: { link: {', 'check: { arp: {') })
    expectOneLine(await cli(['list'], { LABPROOF_SCENARIO_DIR: d }), new RegExp(`broken\\.yaml:6:\\d+: steps\\[1\\]\\.check\\.arp: unknown field "arp" \\(check kinds: ${CHECK_KIND_NAMES.join(', ')}\\)`))
  })

  test('a missing required field', async () => {
    const d = await folder('missing', { 'broken.yaml': VALID.replace('title: A tiny scenario\n', '') })
    expectOneLine(await cli(['list'], { LABPROOF_SCENARIO_DIR: d }), /broken\.yaml:1:1: title: missing required field/)
  })

  test('a malformed target in on:', async () => {
    const d = await folder('target', { 'broken.yaml': VALID.replace('on: host01, run', 'on: "host01:ns1", run') })
    expectOneLine(await cli(['list'], { LABPROOF_SCENARIO_DIR: d }), /broken\.yaml:5:\d+: steps\[0\]\.on: a host like host01, or host\/namespace like host01\/ns1/)
  })

  test('two files with the same scenario id', async () => {
    const d = await folder('dup', { 'a.yaml': VALID, 'b.yaml': VALID })
    expectOneLine(await cli(['list'], { LABPROOF_SCENARIO_DIR: d }), /scenario id "tiny" is used by both .*a\.yaml and .*b\.yaml/)
  })
})

describe.concurrent('a backend that cannot start', () => {
  test.skipIf(!root)('the netns backend as a user who is not root', async () => {
    // Preflight comes before anything is written: nobody needs no writable output folder.
    expectOneLine(await cli(['run'], env(), { asNobody: true }), /the netns backend needs root: run labproof as root \(sudo\), or choose --backend docker/)
  })

  test('the docker backend with no engine at DOCKER_HOST (no silent fallback to another one)', async () => {
    const socket = path.join(dir, 'no-engine.sock')
    expectOneLine(await cli(['run', '--backend', 'docker'], { ...env(), DOCKER_HOST: `unix://${socket}` }),
      new RegExp(`no docker engine answers at DOCKER_HOST=unix://${socket.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(connect ENOENT .*\\): start that engine, correct or unset DOCKER_HOST, or choose --backend netns`))
  })

  test.skipIf(!root)('the qemu backend with a kernel it cannot boot', async () => {
    expectOneLine(await cli(['run', '--backend', 'qemu', '--kernel', '4.0'], env()), /the qemu backend has no kernel "4\.0"; choose --kernel from 5\.10, 6\.1, 6\.12/)
  })
})

describe.skipIf(!root)('mistakes found while the lab runs (needs root)', () => {
  test('a namespace the host does not have: the step fails naming it and those it has', async () => {
    const d = await folder('runtime-ns', { 'tiny.yaml': VALID.replace('on: host01/ns1, name: lo', 'on: host01/ns2, name: lo') })
    const r = await cli(['run'], { LABPROOF_SCENARIO_DIR: d, LABPROOF_OUTPUT_DIR: path.join(dir, 'out-ns') })
    expect(r.code).toBe(1)
    expect(r.stdout + r.stderr).toContain('host01 has no network namespace "ns2" (on: host01/ns2); its namespaces are: ns1. Create it in an earlier step (ip netns add ns2)')
  })

  test('a program the host does not have: the step says it is not installed', async () => {
    const d = await folder('runtime-tool', { 'tiny.yaml': VALID.replace('run: ip netns add ns1', 'run: frobnicate --all') })
    const r = await cli(['run'], { LABPROOF_SCENARIO_DIR: d, LABPROOF_OUTPUT_DIR: path.join(dir, 'out-tool') })
    expect(r.code).toBe(1)
    expect(r.stdout + r.stderr).toContain('got exit 127 (`frobnicate` is not installed on host01: install it in the host)')
  })
})
