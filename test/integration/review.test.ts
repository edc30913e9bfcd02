// `labproof review` after a real netns run of test/scenarios/review-claims.yaml, a small lab of
// our own whose claims get every verdict a netns run can give: the JSON names each claim's
// verdict with its evidence (step, what came back, the pcap on disk), the document's sentence
// read from the document beside the scenario, and the coverage; the records survive a later run
// of another scenario in the same output folder; the HTML page renders in Debian's headless
// chromium. Needs root (netns labs).
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { ClaimRow, CommandRow, DocumentReview } from '../../harness/review/verdicts.ts'
import { CLI, ROOT, runCli } from '../helpers/labproof-cli.ts'

const root = process.getuid?.() === 0
const SCENARIO = path.join(ROOT, 'test', 'scenarios', 'review-claims.yaml')
const DOCUMENT = path.join(ROOT, 'test', 'scenarios', 'review-claims.md')
const CHROMIUM = '/usr/bin/chromium'
const TIMEOUT = 600_000

let dir: string
let out: string

/** `labproof review ARGS` with the run's output folder; stdout and stderr apart. */
function review(args: string[], outputDir = out): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'review', ...args], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, LABPROOF_OUTPUT_DIR: outputDir, NO_COLOR: '1' }, timeout: 120_000,
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

function reviewJson(args: string[] = [SCENARIO]): DocumentReview {
  const r = review([...args, '--json'])
  // The scenario's last check is a claim stated wrongly on purpose: contradicted, so exit 1.
  expect(r.stderr).toBe('')
  expect(r.code).toBe(1)
  const reviews = JSON.parse(r.stdout) as DocumentReview[]
  expect(reviews.map((x) => x.scenario)).toEqual(['review-claims'])
  return reviews[0]!
}

const claim = (r: DocumentReview, id: string) => r.rows.find((x): x is ClaimRow => x.kind === 'claim' && x.id === id)!
const documentLine = (n: number) => readFileSync(DOCUMENT, 'utf8').split('\n')[n - 1]!.trim()

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'labproof-review-'))
  out = path.join(dir, 'out')
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe.skipIf(!root)('labproof review after a netns run', () => {
  beforeAll(async () => {
    const run = await runCli(['run', SCENARIO, '--out', out])
    // One check fails on purpose (the contradicted claim); every other step passes or is skipped.
    expect(run.code, run.output).toBe(1)
  }, TIMEOUT)

  test('each claim has its verdict, with the evidence and the document\'s own sentence', () => {
    const r = reviewJson()
    expect(r.documentFile).toBe(DOCUMENT)
    expect(r.backends).toEqual([expect.stringMatching(/^netns \(kernel \S+\)$/)])

    const confirmed = claim(r, 'ns-answers-own-address')
    expect(confirmed).toMatchObject({ verdict: 'confirmed', detail: 'confirmed on netns', line: 11, original: documentLine(11) })
    expect(confirmed.evidence).toHaveLength(1)
    expect(confirmed.evidence[0]).toMatchObject({ step: 8, status: 'passed', passedOn: ['netns'], cameBack: expect.stringMatching(/1\/1 replies.*echo-reply on host01\/ns1:lo/) })
    // The pcap of the step is kept beside the records and named by its absolute path.
    expect(confirmed.evidence[0]!.pcaps).toHaveLength(1)
    expect(confirmed.evidence[0]!.pcaps[0]).toMatch(new RegExp(`^${out}/reports/by-backend/netns/review-claims/step-8-.*\\.pcap$`))
    expect(readFileSync(confirmed.evidence[0]!.pcaps[0]!).readUInt32LE(0)).toBe(0xa1b2c3d4)

    const refuted = claim(r, 'loopback-up-from-start')
    expect(refuted).toMatchObject({ verdict: 'refuted', holds: false, correction: expect.stringContaining('lo is down'), why: expect.stringContaining('administratively down') })
    expect(refuted.evidence[0]).toMatchObject({ step: 6, added: true, status: 'passed', cameBack: expect.stringContaining('state DOWN') })

    expect(claim(r, 'laptop-nat')).toMatchObject({ verdict: 'not testable here', detail: expect.stringContaining('no lab host is'), evidence: [] })
    expect(claim(r, 'veth-mtu-1500')).toMatchObject({ verdict: 'not asserted', evidence: [] })

    const contradicted = claim(r, 'replies-ttl-1')
    expect(contradicted).toMatchObject({ verdict: 'contradicted', detail: expect.stringMatching(/step 12 failed on netns: .*every reply with ttl 1; got ttl 64/) })
    expect(contradicted.evidence[0]!.failedOn).toEqual(['netns'])
  })

  test('a step this kernel cannot run is "not run yet", naming the backend that can', () => {
    const r = reviewJson()
    const hostFacts = readFileSync(path.join(out, 'reports', 'by-backend', 'netns', 'review-claims.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; missing?: string[] })
    const lacksIpip = hostFacts.some((f) => f.kind === 'host' && f.missing?.includes('ipip'))
    const ipip = claim(r, 'ipip-tunnel-comes-up')
    if (lacksIpip) {
      expect(ipip.verdict).toBe('not run yet')
      expect(ipip.detail).toMatch(/step 10: skipped on netns: host01: kernel lacks ipip .*try labproof run review-claims --backend qemu/)
    } else {
      expect(ipip).toMatchObject({ verdict: 'confirmed', detail: 'confirmed on netns' })
    }
    expect(ipip).toMatchObject({ line: 17, lastLine: 19 })
    expect(ipip.original).toBe([documentLine(17), documentLine(19)].join('\n'))
  })

  test('coverage and commands: every document command with its line, the added steps left out', () => {
    const r = reviewJson()
    const commands = r.rows.filter((x): x is CommandRow => x.kind === 'command')
    expect(commands.map((c) => c.step)).toEqual([1, 2, 3, 4, 5, 8, 10])
    expect(commands.map((c) => c.line)).toEqual([5, 6, 7, 8, 9, 13, 19])
    for (const c of commands) expect(documentLine(c.line!)).toBe(c.command)
    expect(r.coverage).toMatchObject({ claims: 6, asserted: 4, untestable: 1, commands: 7 })
    expect(r.coverage.claimVerdicts).toMatchObject({ confirmed: 1, refuted: 1, 'not testable here': 1, 'not asserted': 1, contradicted: 1 })
    // Read top to bottom: rows in document order.
    const lines = r.rows.map((x) => x.line!)
    expect(lines).toEqual([...lines].sort((a, b) => a - b))
  })

  test('a later run of another scenario in the same output folder keeps these verdicts', async () => {
    const other = await runCli(['run', path.join(ROOT, 'test', 'fixtures', 'report-scenarios', 'c-passes.yaml'), '--out', out])
    expect(other.code, other.output).toBe(0)
    // reports/run holds only the latest run; the review reads reports/by-backend too.
    expect(existsSync(path.join(out, 'reports', 'run', 'review-claims.jsonl'))).toBe(false)
    expect(claim(reviewJson(), 'ns-answers-own-address').verdict).toBe('confirmed')
  }, TIMEOUT)

  test('without the document at hand the review says so and shows no original text', () => {
    const alone = path.join(dir, 'review-claims.yaml')
    copyFileSync(SCENARIO, alone)
    const r = reviewJson([alone])
    expect(r.documentFile).toBeUndefined()
    expect(r.documentNote).toMatch(/review-claims\.md is neither beside .* nor in a document folder/)
    expect(claim(r, 'ns-answers-own-address')).not.toHaveProperty('original')
    expect(claim(r, 'ns-answers-own-address').verdict).toBe('confirmed')
  })

  test('--json and --html together are a usage mistake', () => {
    const r = review([SCENARIO, '--json', '--html'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--json and --html/)
  })

  test.skipIf(!existsSync(CHROMIUM))('--html writes one page that renders in headless chromium, each claim and command with its verdict', () => {
    const r = review([SCENARIO, '--html'])
    expect(r.code).toBe(1)
    const page = path.join(out, 'reports', 'review.html')
    expect(r.stdout).toBe(`review: ${page}\n`)
    const html = readFileSync(page, 'utf8')
    // Self-contained: no script, no stylesheet or image from anywhere.
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\//i)
    const chromium = spawnSync(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--dump-dom', `file://${page}`], { encoding: 'utf8', timeout: 120_000 })
    expect(chromium.status, chromium.stderr).toBe(0)
    const dom = chromium.stdout
    // What chromium built from the page: the rows with their verdict classes and cells.
    for (const [id, verdict] of [['ns-answers-own-address', 'confirmed'], ['loopback-up-from-start', 'refuted'], ['laptop-nat', 'not-testable-here'], ['veth-mtu-1500', 'not-asserted'], ['replies-ttl-1', 'contradicted']]) {
      expect(dom).toMatch(new RegExp(`<tr class="claim v-${verdict}" data-claim="${id}">`))
    }
    expect(dom).toMatch(/<tr class="command v-confirmed" data-step="8"><td>13<\/td>/)
    expect(dom).toContain(documentLine(15))
    expect(dom).toMatch(/<b>6<\/b> claims named, <b>4<\/b> asserted, 1 not testable here; <b>\d<\/b> of 7 commands run verbatim/)
  }, TIMEOUT)
})
