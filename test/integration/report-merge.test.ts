// `labproof report merge`: three shards of a run (--shard I/3) merged hold exactly the testcases
// and verdicts of one unsharded run, in one JUnit file and one HTML report; and that report, one
// file opened from disk in headless Chromium (Debian's chromium, no network), shows the failed
// step's verdict with the scenario's hint, and a skipped step's reason. Needs root (netns labs).
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { junitCases, ROOT, runCli } from '../helpers/labproof-cli.ts'

const root = process.getuid?.() === 0
const CHROMIUM = '/usr/bin/chromium'
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'report-scenarios')
const TIMEOUT = 900_000

let dir: string

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'labproof-report-merge-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** What a run's JUnit says of each step, without what varies from run to run (times, the
 *  transcripts, a failure's evidence such as a veth's random MAC). */
function verdicts(junitFile: string): Record<string, unknown> {
  return Object.fromEntries([...junitCases(junitFile)].map(([name, c]) => {
    const { detail: _evidence, ...verdict } = c.outcome as { detail?: string }
    return [name, { file: c.file, line: c.line, outcome: verdict }]
  }))
}

function resultCount(allureResults: string): number {
  return readdirSync(allureResults).filter((f) => f.endsWith('-result.json')).length
}

describe.skipIf(!root)('three shards merged (needs root)', () => {
  let merged: string
  let whole: string
  let ran: string[]

  beforeAll(async () => {
    whole = path.join(dir, 'whole')
    const shards = [1, 2, 3].map((i) => path.join(dir, `shard-${i}`))
    const runs = await Promise.all([
      runCli(['run', FIXTURES, '--out', whole]),
      ...shards.map((out, i) => runCli(['run', FIXTURES, '--shard', `${i + 1}/3`, '--out', out])),
    ])
    expect(runs[0]!.code, runs[0]!.output).toBe(1)
    // A shard may be given no scenario (it says so, writes nothing and passes).
    ran = shards.filter((s) => existsSync(path.join(s, 'reports', 'junit.xml')))
    for (const r of runs.slice(1)) expect(r.code, r.output).not.toBe(2)
    merged = path.join(dir, 'merged')
    const m = await runCli(['report', 'merge', ...ran, '--out', merged])
    expect(m.output).toMatch(/merged \d result folders?: 10 steps, 1 failed, \d skipped/)
    expect(m.code, m.output).toBe(1) // a step failed
  }, TIMEOUT)

  test('the merged JUnit holds exactly the testcases and verdicts of the unsharded run', () => {
    const mergedVerdicts = verdicts(path.join(merged, 'reports', 'junit.xml'))
    expect(Object.keys(mergedVerdicts)).toHaveLength(10)
    expect(mergedVerdicts).toEqual(verdicts(path.join(whole, 'reports', 'junit.xml')))
  })

  test('and each shard\'s testcases whole: evidence, transcripts and times', () => {
    const fromShards = new Map(ran.flatMap((s) => [...junitCases(path.join(s, 'reports', 'junit.xml'))]))
    expect(junitCases(path.join(merged, 'reports', 'junit.xml'))).toEqual(fromShards)
  })

  test('the merged Allure results are every shard\'s, as many as the unsharded run\'s', () => {
    expect(resultCount(path.join(merged, 'allure-results'))).toBe(resultCount(path.join(whole, 'allure-results')))
  })

  test('the same shard given twice is refused', async () => {
    const shard = readdirSync(dir).find((d) => d.startsWith('shard-') && existsSync(path.join(dir, d, 'reports', 'junit.xml')))!
    const r = await runCli(['report', 'merge', path.join(dir, shard), path.join(dir, shard), '--out', path.join(dir, 'twice'), '--no-html'])
    expect(r.code).toBe(1)
    expect(r.output).toMatch(/labproof: report merge: "report-[a-z-]+: .*" is in both .* were the same shard's results given twice\?/)
  }, TIMEOUT)

  describe.skipIf(!existsSync(CHROMIUM))('the HTML report, opened from disk in headless Chromium', () => {
    let browser: Browser
    const offMachine: string[] = []

    beforeAll(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      })
    }, TIMEOUT)

    afterAll(async () => {
      await browser?.close()
    })

    /** The page of one test result (the report's own route, `#<id>`), as a person sees it. */
    async function pageText(stepName: string, waitFor: string): Promise<string> {
      const report = path.join(merged, 'allure-report')
      expect(readdirSync(report)).toContain('index.html')
      const ids = JSON.parse(readFileSync(path.join(report, 'test-results.json'), 'utf8')) as { byId: Record<string, { id: string; name: string }> }
      const id = Object.values(ids.byId).find((r) => r.name === stepName)!.id
      const context = await browser.newContext()
      const page = await context.newPage()
      // The report is one file: nothing may be fetched from anywhere else, and nothing is.
      await page.route('**/*', (route) => {
        const url = route.request().url()
        if (/^(file|data|blob):/.test(url)) return route.continue()
        offMachine.push(url)
        return route.abort()
      })
      await page.goto(`file://${path.join(report, 'index.html')}#${id}`, { waitUntil: 'commit', timeout: 120_000 })
      await page.waitForFunction((text) => document.getElementById('app')?.innerText.includes(text), waitFor, { timeout: 180_000 })
      const text = await page.evaluate(() => document.getElementById('app')!.innerText)
      await context.close()
      return text
    }

    test('a failed check shows its verdict and the scenario\'s hint as the suggested fix, grouped by document, scenario and section', async () => {
      const text = await pageText('step 5: link v1 on host01', 'expected v1 on host01: state up')
      expect(text).toContain('step 5: link v1 on host01')
      expect(text).toMatch(/expected v1 on host01: state up\s+got down/)
      expect(text).toContain('suggested fix: bring v1 up first: ip link set v1 up')
      // The labels the tree is grouped by: document (epic), scenario (feature), section (story).
      expect(text).toContain('report-fixture.txt')
      expect(text).toContain('report-verdicts: A veth pair whose claim fails')
      expect(text).toContain('the claim that fails')
      expect(offMachine).toEqual([])
    }, TIMEOUT)

    test('a skipped step shows its reason', async () => {
      const text = await pageText('step 6: [host01] ip link set v1 up', 'blocked by step 5')
      expect(text).toContain('Skipped')
      expect(offMachine).toEqual([])
    }, TIMEOUT)
  })
})
