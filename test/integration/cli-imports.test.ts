// The commands that only plan or read (help, list, errata, review, grade) load neither vitest nor Allure:
// they run with a module hook that refuses those imports and logs each attempt. `run` loads no
// vitest (it drives the engine itself and writes Allure's results with allure-js-commons). The
// control: a script that does import them is caught.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, expect, test } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = path.join(ROOT, 'bin', 'labproof.js')
const GUARD = pathToFileURL(path.join(ROOT, 'test', 'fixtures', 'import-guard', 'register.mjs')).href

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'labproof-imports-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

interface Guarded { code: number | null; stdout: string; stderr: string; refused: string[] }

/** labproof ARGS with the import guard; `refused` lists what it tried to import and could not. */
function guarded(name: string, args: string[], env: Record<string, string> = {}): Promise<Guarded> {
  return guardedNode(name, [CLI, ...args], env)
}

async function guardedNode(name: string, argv: string[], env: Record<string, string> = {}): Promise<Guarded> {
  const log = path.join(dir, `${name}.log`)
  const r = await new Promise<Omit<Guarded, 'refused'>>((resolve, reject) => {
    const child = spawn(process.execPath, argv, {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: `--import=${GUARD}`, LABPROOF_IMPORT_GUARD_LOG: log, LABPROOF_OUTPUT_DIR: path.join(dir, 'out'), NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += String(d)))
    child.stderr.on('data', (d) => (stderr += String(d)))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
  const refused = (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean)
  return { ...r, refused }
}

test('help loads neither vitest nor Allure', async () => {
  const r = await guarded('help', ['--help'])
  expect(r.refused).toEqual([])
  expect(r.code).toBe(0)
  expect(r.stdout).toMatch(/labproof run/)
}, 60_000)

test('list loads neither vitest nor Allure', async () => {
  const r = await guarded('list', ['list'])
  expect(r.refused).toEqual([])
  expect(r.code).toBe(0)
  expect(r.stdout).toMatch(/^namespace-routing$/m)
}, 60_000)

test('errata loads neither vitest nor Allure', async () => {
  const r = await guarded('errata', ['errata', '--json'])
  expect(r.refused).toEqual([])
  expect(r.code).toBe(0)
  expect(JSON.parse(r.stdout).length).toBeGreaterThan(0)
}, 60_000)

test('review loads neither vitest nor Allure, as JSON or as an HTML page', async () => {
  const json = await guarded('review-json', ['review', 'test/scenarios/review-claims.yaml', '--json'])
  expect(json.refused).toEqual([])
  expect(json.code).toBe(0)
  expect(JSON.parse(json.stdout)[0].scenario).toBe('review-claims')
  const html = await guarded('review-html', ['review', 'test/scenarios/review-claims.yaml', '--html'])
  expect(html.refused).toEqual([])
  expect(html.code).toBe(0)
  expect(html.stdout).toMatch(/^review: .*review\.html$/m)
}, 60_000)

test('grade loads neither vitest nor Allure, up to a machine it cannot reach', async () => {
  // Port 1 on loopback: refused at once, nothing leaves the machine.
  const r = await guarded('grade', ['grade', '--scenario', 'namespace-routing', '--target', 'ssh://root@127.0.0.1:1', '--out', path.join(dir, 'grades')])
  expect(r.refused).toEqual([])
  expect(r.code).toBe(1)
  expect(r.stdout).toMatch(/NOT GRADED \(0 points\)/)
}, 60_000)

test('--version loads neither vitest nor Allure', async () => {
  const r = await guarded('version', ['--version'])
  expect(r.refused).toEqual([])
  expect(r.code).toBe(0)
  expect(r.stdout).toMatch(/^\d+\.\d+\.\d+/)
}, 60_000)

test('clean loads neither vitest nor Allure', async () => {
  const r = await guarded('clean', ['clean'])
  expect(r.refused).toEqual([])
  // What it finds to remove is other runs' business (a docker engine may refuse to remove a
  // network still in use): done, or one line why not.
  if (r.code !== 0) expect(r.stderr).toMatch(/^labproof: .+\n$/)
}, 60_000)

test('init loads neither vitest nor Allure', async () => {
  const r = await guarded('init', ['init', path.join(dir, 'init')])
  expect(r.refused).toEqual([])
  expect(r.code, r.stderr).toBe(0)
  expect(existsSync(path.join(dir, 'init', 'scenarios', 'example.yaml'))).toBe(true)
}, 60_000)

test('image loads neither vitest nor Allure, up to refusing a distro it does not know', async () => {
  const r = await guarded('image', ['image', 'build', '--distro', 'nosuchdistro'])
  expect(r.refused).toEqual([])
  expect(r.code).toBe(2)
  expect(r.stderr).toMatch(/nosuchdistro/)
}, 60_000)

test('draft and check-source load neither vitest nor Allure', async () => {
  const post = path.join(dir, 'post.md')
  await writeFile(post, '# A namespace\n\nMake one:\n\n```\nip netns add ns1\n```\n')
  const draft = await guarded('draft', ['draft', post, '--out', path.join(dir, 'drafted.yaml')])
  expect(draft.refused).toEqual([])
  expect(draft.code, draft.stderr).toBe(0)
  expect(await readFile(path.join(dir, 'drafted.yaml'), 'utf8')).toContain('ip netns add ns1')
  await writeFile(path.join(dir, 'in-step.yaml'), 'id: in-step\ntitle: In step\nsource: { doc: post.md, section: A namespace }\nsteps:\n  - { on: host01, run: ip netns add ns1 }\n')
  const check = await guarded('check-source', ['check-source', path.join(dir, 'in-step.yaml')])
  expect(check.refused).toEqual([])
  expect(check.code, check.stdout + check.stderr).toBe(0)
}, 60_000)

test.skipIf(process.getuid?.() !== 0)('run loads no vitest: a scenario runs on a netns lab, its JUnit file and Allure results written (needs root)', async () => {
  const scenario = path.join(dir, 'one-step.yaml')
  await writeFile(scenario, 'id: one-step\ntitle: One step\nsource: { doc: post.md, section: A namespace }\nsteps:\n  - { on: host01, run: ip netns add ns1 }\n')
  const out = path.join(dir, 'run-out')
  const r = await guarded('run', ['run', scenario, '--out', out], { LABPROOF_IMPORT_GUARD_ONLY: 'vitest' })
  expect(r.refused).toEqual([])
  expect(r.code, r.stdout + r.stderr).toBe(0)
  expect(r.stdout).toMatch(/^\s*Tests\s+1 passed \(1\)$/m)
  expect(await readFile(path.join(out, 'reports', 'junit.xml'), 'utf8')).toMatch(/<testcase classname="one-step" name="step 1: \[host01\] ip netns add ns1"/)
  expect((await readdir(path.join(out, 'allure-results'))).filter((f) => f.endsWith('-result.json'))).toHaveLength(1)
}, 120_000)

test('the guard catches the vitest binding loaded through tsx, as labproof loads its modules', async () => {
  const script = "(await import('tsx/esm/api')).register(); await import('./harness/scenario/runner.ts').then(() => console.log('loaded'), () => console.log('refused'))"
  const r = await guardedNode('control', ['--input-type=module', '-e', script])
  expect(r.stdout.trim()).toBe('refused')
  expect(r.refused).toContain(`vitest imported by ${pathToFileURL(path.join(ROOT, 'harness/scenario/runner.ts')).href}`)
  // The binding hands allure-js-commons' API to the shared Allure subscriber (report/allure.ts imports none).
  expect(r.refused).toContain(`allure-js-commons imported by ${pathToFileURL(path.join(ROOT, 'harness/scenario/runner.ts')).href}`)
}, 60_000)
