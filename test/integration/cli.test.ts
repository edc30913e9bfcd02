// The command line as a user meets it, through the real bin: --version, --help for every
// command, every environment variable the code reads listed in --help, exit codes 0/1/2, a
// closed output (`labproof list | head -1`), colour only on a terminal, scenarios named as files,
// folders or ids, the config file against the environment and the command line, --shard, and a
// run whose parent process goes away.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { netnsNodePids, processes } from '../helpers/leftovers.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = path.join(ROOT, 'bin', 'labproof.js')
const root = process.getuid?.() === 0
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

interface CliResult { code: number | null; stdout: string; stderr: string }

function cli(args: string[], o: { cwd?: string; env?: Record<string, string | undefined>; closeStdout?: boolean } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, LABPROOF_OUTPUT_DIR: undefined, LABPROOF_SCENARIO_DIR: undefined, ...o.env }
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k]
    const child = spawn(process.execPath, [CLI, ...args], { cwd: o.cwd ?? dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    // The reader gone before labproof writes a byte: its first write meets EPIPE.
    if (o.closeStdout) child.stdout.destroy()
    else child.stdout.on('data', (d) => (stdout += String(d)))
    child.stderr.on('data', (d) => (stderr += String(d)))
    const timer = setTimeout(() => child.kill('SIGKILL'), 280_000)
    child.on('error', reject)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

function scenario(id: string, steps = '  - { on: host01, run: ip netns add ns1 }\n  - check: { link: { on: host01/ns1, name: lo } }\n'): string {
  return `id: ${id}\ntitle: Scenario ${id}\nsource: { doc: ${id}.txt, section: one }\nsteps:\n${steps}`
}

let dir: string

/** A folder of files (name → text) under the test's temp dir. */
async function files(name: string, contents: Record<string, string>): Promise<string> {
  const d = path.join(dir, name)
  for (const [f, text] of Object.entries(contents)) {
    await mkdir(path.dirname(path.join(d, f)), { recursive: true })
    await writeFile(path.join(d, f), text)
  }
  await mkdir(d, { recursive: true })
  return d
}

const ids = (r: CliResult) => r.stdout.split('\n').filter((l) => /^\S/.test(l))

/** Each testcase of a JUnit file as "classname > name". */
function testcases(junitFile: string): string[] {
  const xml = readFileSync(junitFile, 'utf8')
  return [...xml.matchAll(/<testcase\b[^>]*>/g)].map(([tag]) => `${/classname="([^"]*)"/.exec(tag)?.[1]} > ${/ name="([^"]*)"/.exec(tag)?.[1]}`).sort()
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'labproof-cli-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

// One after the other: each call starts node and tsx, and the machine may be busy.
describe('conventions', () => {
  test('--version prints the package version', async () => {
    const r = await cli(['--version'])
    expect(r).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' })
  })

  test('no command: the usage, exit 2; --help: the usage, exit 0', async () => {
    const none = await cli([])
    expect(none.code).toBe(2)
    expect(none.stdout).toMatch(/^labproof \S+ — run Linux virtual-networking lab write-ups/)
    const help = await cli(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toBe(none.stdout)
    expect(help.stdout).toMatch(/exit codes:\n\s+0\s+every step passed/)
  }, 300_000)

  test('COMMAND --help and help COMMAND, for every command', async () => {
    for (const command of ['run', 'list', 'errata', 'review', 'clean', 'image', 'grade', 'init', 'draft', 'check-source']) {
      const r = await cli([command, '--help'])
      expect({ command, code: r.code, stderr: r.stderr }).toEqual({ command, code: 0, stderr: '' })
      expect(r.stdout).toMatch(new RegExp(`labproof ${command}\\b`))
      expect((await cli(['help', command])).stdout).toBe(r.stdout)
    }
  }, 900_000)

  test('image build --help', async () => {
    const r = await cli(['image', 'build', '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^usage: labproof image build/)
  })

  test('every environment variable the code reads is in --help', async () => {
    const read = new Set<string>()
    const sources = [path.join(ROOT, 'scenarios', 'labs.test.ts'), path.join(ROOT, 'vitest.config.ts'), ...tsFiles(path.join(ROOT, 'harness'))]
    for (const file of sources) {
      const text = readFileSync(file, 'utf8')
      // Reads only: `env.X = …`, `env.X ??= …` and `delete env.X` give a child its environment.
      for (const m of text.matchAll(/(delete\s+)?(?:process\.)?env(?:\.([A-Z][A-Z0-9_]+)|\[['"]([A-Z][A-Z0-9_]+)['"]\])(\s*(?:\?\?|\|\|)?=(?!=))?/g)) {
        if (!m[1] && !m[4]) read.add(m[2] ?? m[3]!)
      }
    }
    expect(read.size).toBeGreaterThan(10)
    const help = (await cli(['--help'])).stdout
    expect([...read].filter((name) => !new RegExp(`\\b${name}\\b`).test(help))).toEqual([])
  })

  test('a closed output ends the command quietly (the reader gone before the first write)', async () => {
    for (const command of ['list', 'errata', '--help']) {
      const r = await cli([command], { closeStdout: true })
      expect({ command, code: r.code, stderr: r.stderr }).toEqual({ command, code: 0, stderr: '' })
    }
  }, 300_000)

  test('labproof list | head -1', async () => {
    const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CLI}" list | head -1`], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1)
    expect(r.stderr).toBe('')
  })

  test('exit code 2 for the command line, with one line why', async () => {
    const d = await files('usage', { 'scenarios/a.yaml': scenario('a') })
    const cases: [string[], RegExp][] = [
      [['run', '--frob'], /^labproof: run: unknown option --frob \(labproof run --help shows the options\)\n$/],
      [['run', '--shard', '4/3'], /^labproof: --shard 4\/3: give I\/N with 1 <= I <= N/],
      [['run', '--jobs', 'many'], /^labproof: --jobs wants a positive whole number, not "many"\n$/],
      [['run', 'nope'], /^labproof: no scenario with id "nope"; known scenarios: a\n$/],
      [['run', 'scenarios/missing.yaml'], /^labproof: scenarios\/missing\.yaml: no such scenario file or folder\n$/],
      [['list', './elsewhere/'], /^labproof: \.\/elsewhere\/: no such scenario file or folder\n$/],
      [['frob'], /^labproof: unknown command "frob"/],
    ]
    for (const [args, message] of cases) {
      const r = await cli(args, { cwd: d })
      expect({ args, code: r.code }).toEqual({ args, code: 2 })
      expect(r.stderr).toMatch(message)
    }
  }, 300_000)

  test('exit code 1 for a broken scenario or config file, with its line', async () => {
    const broken = await files('broken', { 'scenarios/a.yaml': scenario('a').replace('title:', 'titel:') })
    expect(await cli(['list'], { cwd: broken })).toMatchObject({ code: 1, stderr: expect.stringMatching(/^labproof: scenarios\/a\.yaml:\d+:\d+: /) })
    const config = await files('bad-config', { 'labproof.config.yaml': 'backend: lxc\n' })
    expect(await cli(['list'], { cwd: config })).toMatchObject({ code: 1, stderr: expect.stringMatching(/^labproof: labproof\.config\.yaml:1:10: backend: /) })
  }, 300_000)
})

describe('naming scenarios', () => {
  let repo: string
  beforeAll(async () => {
    repo = await files('repo', {
      'scenarios/a.yaml': scenario('alpha'),
      'scenarios/b.yml': scenario('beta'),
      'scenarios/notes.txt': 'not a scenario',
      'extra/c.yaml': scenario('gamma'),
      'extra/d.yaml': scenario('delta'),
    })
  })

  test('no argument: ./scenarios of the current directory', async () => {
    expect(ids(await cli(['list'], { cwd: repo }))).toEqual(['alpha', 'beta'])
  })

  test('no ./scenarios: the examples labproof ships', async () => {
    const shipped = readdirSync(path.join(ROOT, 'scenarios')).filter((f) => /\.ya?ml$/.test(f)).length
    const r = await cli(['list'], { cwd: await files('empty', {}) })
    expect(ids(r)).toContain('namespace-routing')
    expect(ids(r)).toHaveLength(shipped)
  })

  test('files, folders and ids, in the order given, each once', async () => {
    expect(ids(await cli(['list', 'extra/d.yaml'], { cwd: repo }))).toEqual(['delta'])
    expect(ids(await cli(['list', 'extra'], { cwd: repo }))).toEqual(['gamma', 'delta'])
    expect(ids(await cli(['list', path.join(repo, 'extra', 'c.yaml'), 'beta', './extra/', 'scenarios/a.yaml', 'beta'], { cwd: repo }))).toEqual(['gamma', 'beta', 'delta', 'alpha'])
  }, 300_000)

  test('the config names the default scenarios; LABPROOF_SCENARIO_DIR wins over it, an argument over both', async () => {
    const configured = await files('configured', { 'labproof.config.json': '{ "scenarios": ["../repo/extra"] }' })
    expect(ids(await cli(['list'], { cwd: configured }))).toEqual(['gamma', 'delta'])
    expect(ids(await cli(['list', 'delta'], { cwd: configured }))).toEqual(['delta'])
    expect(ids(await cli(['list'], { cwd: configured, env: { LABPROOF_SCENARIO_DIR: path.join(repo, 'scenarios') } }))).toEqual(['alpha', 'beta'])
    expect(ids(await cli(['list', '../repo/scenarios/b.yml'], { cwd: configured }))).toEqual(['beta'])
  }, 300_000)

  test('errata and grade --scenario take files too', async () => {
    expect(await cli(['errata', 'extra/c.yaml', '--json'], { cwd: repo })).toMatchObject({ code: 0, stdout: '[]\n' })
    const r = await cli(['grade', '--scenario', 'extra/c.yaml', '--target', 'local', '--as', 'host09'], { cwd: repo })
    expect(r).toMatchObject({ code: 2, stderr: expect.stringMatching(/--as host09: the scenario's hosts are host01, host02/) })
  }, 300_000)

  test('the same id in two files is refused', async () => {
    const r = await cli(['list', 'scenarios/a.yaml', 'extra'], { cwd: await files('twice', { 'scenarios/a.yaml': scenario('same'), 'extra/b.yaml': scenario('same') }) })
    expect(r).toMatchObject({ code: 1, stderr: expect.stringMatching(/scenario id "same" is used by both scenarios\/a\.yaml and extra\/b\.yaml/) })
  }, 300_000)
})

describe.skipIf(!root)('runs (needs root: the netns backend)', () => {
  let labs: string
  beforeAll(async () => {
    labs = await files('labs', {
      'labproof.config.yaml': 'scenarios: [four]\noutput: from-config\njobs: 2\n',
      'four/s1.yaml': scenario('s1'), 'four/s2.yaml': scenario('s2'), 'four/s3.yaml': scenario('s3'), 'four/s4.yaml': scenario('s4'),
      'failing.yaml': scenario('failing', '  - { on: host01, run: "false" }\n'),
    })
  })

  test('exit 0, results where the config says, no colour codes in a pipe; then --shard 1/3..3/3 hold the same testcases', async () => {
    const all = await cli(['run'], { cwd: labs })
    expect(all.code, all.stdout + all.stderr).toBe(0)
    expect(all.stdout + all.stderr).not.toContain('\x1b[')
    const unsharded = testcases(path.join(labs, 'from-config', 'reports', 'junit.xml'))
    expect(unsharded.filter((t) => t.startsWith('s')).length).toBe(unsharded.length)
    expect(new Set(unsharded.map((t) => t.split(' > ')[0])).size).toBe(4)

    const shards = await Promise.all([1, 2, 3].map((i) => cli(['run', '--shard', `${i}/3`, '--out', `shard-${i}`], { cwd: labs })))
    const merged: string[] = []
    for (const [i, r] of shards.entries()) {
      expect(r.code, r.stdout + r.stderr).toBe(0)
      expect(r.stdout).toMatch(new RegExp(`^shard ${i + 1}/3: `, 'm'))
      merged.push(...testcases(path.join(labs, `shard-${i + 1}`, 'reports', 'junit.xml')))
    }
    expect(merged.sort()).toEqual(unsharded)
    // The split is the same on every runner.
    const again = await cli(['run', '--shard', '2/3', '--out', 'shard-2-again'], { cwd: labs })
    expect(testcases(path.join(labs, 'shard-2-again', 'reports', 'junit.xml'))).toEqual(testcases(path.join(labs, 'shard-2', 'reports', 'junit.xml')))
    expect(again.stdout).toMatch(/^shard 2\/3: s2\n/m)
    // More shards than scenarios: an empty shard runs nothing and passes.
    expect(await cli(['run', '--shard', '5/5', '--out', 'shard-5-of-5'], { cwd: labs })).toMatchObject({ code: 0, stdout: expect.stringMatching(/shard 5\/5 has no scenarios/) })
  }, 600_000)

  test('exit 1 when a step fails; LABPROOF_OUTPUT_DIR beats the config, --out beats both; FORCE_COLOR gives colour', async () => {
    const env = await cli(['run', 's1'], { cwd: labs, env: { LABPROOF_OUTPUT_DIR: path.join(labs, 'from-env'), FORCE_COLOR: '1' } })
    expect(env.code, env.stdout + env.stderr).toBe(0)
    expect(existsSync(path.join(labs, 'from-env', 'reports', 'junit.xml'))).toBe(true)
    expect(env.stdout).toContain('\x1b[')
    const failing = await cli(['run', 'failing.yaml', '--out', 'from-cli'], { cwd: labs, env: { LABPROOF_OUTPUT_DIR: path.join(labs, 'from-env') } })
    expect(failing.code, failing.stdout + failing.stderr).toBe(1)
    expect(testcases(path.join(labs, 'from-cli', 'reports', 'junit.xml'))).toEqual(['failing > step 1: [host01] false'])
  }, 300_000)

  test('on a terminal with NO_COLOR: no colour codes (and colour without it)', async () => {
    if (spawnSync('script', ['--version']).status !== 0) return expect.fail('script (util-linux) is needed to give labproof a terminal')
    const onTerminal = (env: Record<string, string>) => spawnSync('script', ['-qec', `"${process.execPath}" "${CLI}" run s1 --out tty-out`, '/dev/null'], { cwd: labs, encoding: 'utf8', env: { ...process.env, NO_COLOR: '', FORCE_COLOR: '', ...env } })
    const plain = onTerminal({ NO_COLOR: '1' })
    expect(plain.status, plain.stdout).toBe(0)
    expect(plain.stdout).toMatch(/Tests\s+\d+ passed/)
    // Colour is SGR (ESC [ … m); vitest's live summary also moves the cursor on a terminal.
    const sgr = /\x1b\[[0-9;]*m/
    expect(plain.stdout).not.toMatch(sgr)
    const coloured = onTerminal({})
    expect(coloured.stdout).toMatch(sgr)
  }, 300_000)

  test('a run whose parent goes away stops and removes its labs', async () => {
    const marker = `${7000 + Math.floor(Math.random() * 1000)}.${process.pid}`
    await writeFile(path.join(labs, 'hang.yaml'), scenario('hang', `  - { on: host01, run: ip netns add ns1 }\n  - { on: host01, run: sleep ${marker}, timeoutMs: 120000 }\n`))
    // A parent that stays until it is killed; labproof's output goes to a file.
    const log = path.join(labs, 'hang.log')
    const parent: ChildProcess = spawn('sh', ['-c', `"${process.execPath}" "${CLI}" run hang.yaml --out hang-out >"${log}" 2>&1 & echo $!; wait`], { cwd: labs, stdio: ['ignore', 'pipe', 'ignore'] })
    const pid = Number(await new Promise<string>((r) => parent.stdout!.once('data', (d) => r(String(d)))))
    const deadline = Date.now() + 240_000
    while (!processes().some((p) => p.argv[0] === 'sleep' && p.argv[1] === marker)) {
      if (Date.now() > deadline || !processes().some((p) => p.pid === pid)) throw new Error(`the step never started:\n${readFileSync(log, 'utf8')}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    // The labs belong to labproof's process (their nodes are marked with its PID).
    const owners = descendants(pid)
    const labNodes = () => owners.flatMap((owner) => netnsNodePids({ owner }))
    expect(labNodes().length).toBeGreaterThan(0)
    parent.kill('SIGKILL')
    // labproof was not signalled: it notices its parent is gone, removes its labs and exits.
    while (processes().some((p) => p.pid === pid)) {
      if (Date.now() > deadline) throw new Error(`labproof is still running:\n${readFileSync(log, 'utf8')}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(readFileSync(log, 'utf8')).toMatch(/labproof: its parent process \(pid \d+\) is gone: stopping the run and removing its labs/)
    expect(labNodes()).toEqual([])
    expect(processes().some((p) => p.argv[0] === 'sleep' && p.argv[1] === marker)).toBe(false)
  }, 300_000)
})

/** `pid` and every process below it now. */
function descendants(pid: number): number[] {
  const procs = processes()
  const found = new Set([pid])
  for (let grew = true; grew;) {
    grew = false
    for (const p of procs) if (found.has(p.ppid) && !found.has(p.pid)) { found.add(p.pid); grew = true }
  }
  return [...found]
}

function tsFiles(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? tsFiles(path.join(d, e.name)) : e.name.endsWith('.ts') ? [path.join(d, e.name)] : [])
}

