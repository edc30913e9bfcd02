// The soak names a forced failure: one run, not killed, of test/soak/forced-failure/wrong-ttl.yaml
// (a ping claimed at TTL 63 that arrives with 64). The soak must fail, print the failing step with
// its message, and keep that run's console output and reports.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { describeWithEngine, rootMissing } from '../helpers/engines.ts'
import { ROOT } from '../helpers/labproof-cli.ts'
import { failedTestcases } from './junit-failures.ts'

const keep = await mkdtemp(path.join(tmpdir(), 'labproof-soak-forced-'))
afterAll(() => rm(keep, { recursive: true, force: true }))

/** The soak as `npm run soak` runs it, without this test run's own LABPROOF_ and VITEST settings
 *  (its output dir, scenario files, backend), which are not the soak's. */
function soak(args: string[]): Promise<{ code: number | null; output: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(LABPROOF_|VITEST)/.test(k)))
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/soak/soak.ts'), ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => (output += String(d)))
  child.stderr.on('data', (d) => (output += String(d)))
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, output })))
}

describeWithEngine('root', rootMissing(), 'soak with a forced failure', () => {
  test('names the failing step and keeps its run\'s evidence', async () => {
    const { code, output } = await soak(['--runs', '1', '--no-kill', '--scenario', 'test/soak/forced-failure', '--keep', keep])
    expect(code, output).toBe(1)
    const step = 'step 2: ping 192.168.21.12 from host01 (ttl 63): expected ping 192.168.21.12 from host01: every reply with ttl 63; got ttl 64'
    expect(output).toContain(`run 1 exited 1; kept in ${path.join(keep, 'run-1')}\n      ${step}\n`)
    expect(output).toContain(`failed 1x: ${step}`)
    expect(output).toContain("1 ran to the end: 1 failed, 0 hung;")
    expect(output).toMatch(/soak: FAIL\n$/)
    const kept = path.join(keep, 'run-1')
    expect(failedTestcases(readFileSync(path.join(kept, 'reports', 'junit.xml'), 'utf8'))).toEqual([step])
    expect(readFileSync(path.join(kept, 'console.log'), 'utf8')).toContain('ttl=64')
    expect(existsSync(path.join(kept, 'reports', 'run')), 'run records kept').toBe(true)
    expect(existsSync(path.join(kept, 'allure-results')), 'Allure results kept').toBe(true)
  }, 900_000) // a bound for a loaded machine (the run itself takes seconds on a quiet one)
})
