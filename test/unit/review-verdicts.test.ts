// The review's pure parts on real run records (test/fixtures/review/, copied from real runs):
// records merged over backends and result folders, each claim's and command's verdict, which
// backend can run what no run reached, and errata from the merged records.
//   review-claims/netns: `labproof run test/scenarios/review-claims.yaml` on netns (this kernel
//     lacks ipip; the last check fails on purpose).
//   review-claims-qemu/qemu: the same scenario on qemu (kernel 6.1, TCG), whose ping step failed
//     reading its capture back from the guest.
//   ipip-tunnels/: scenarios/000-ipip-tunnels.yaml as of commit c34dcbc (ipip-tunnels.yaml), its
//     full netns run, and a qemu run whose first step failed (the guest's ssh channel closed).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, test } from 'vitest'
import { collectErrata } from '../../harness/report/errata.ts'
import { readDocument } from '../../harness/review/document.ts'
import { cellLabel, readMergedRecords, recordFolders } from '../../harness/review/records.ts'
import { reviewDocument, type ClaimRow, type CommandRow, type DocumentReview } from '../../harness/review/verdicts.ts'
import { parseScenario, type LoadedScenario } from '../../harness/scenario/loader.ts'

const FIXTURES = fileURLToPath(new URL('../fixtures/review/', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const REVIEW_CLAIMS = path.join(ROOT, 'test', 'scenarios', 'review-claims.yaml')
const IPIP = path.join(FIXTURES, 'ipip-tunnels', 'ipip-tunnels.yaml')

const load = (file: string, text = readFileSync(file, 'utf8')): LoadedScenario => parseScenario(text, file)
const claim = (r: DocumentReview, id: string) => r.rows.find((x): x is ClaimRow => x.kind === 'claim' && x.id === id)!
const command = (r: DocumentReview, step: number) => r.rows.find((x): x is CommandRow => x.kind === 'command' && x.step === step)!

const temps: string[] = []
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })))

describe('merging run records', () => {
  test('a copy of by-backend folders: each cell read once, named with its kernel where it boots its own', () => {
    const records = readMergedRecords([path.join(FIXTURES, 'ipip-tunnels')]).get('ipip-tunnels')!
    expect(records.cells.map((c) => [c.cell, c.on, c.kernel])).toEqual([
      ['netns', 'netns', '6.18.44-fc-v1045'],
      ['qemu', 'qemu 6.1', '6.1.0-57-cloud-amd64'],
    ])
    expect(records.cells[0]!.missing).toEqual(expect.arrayContaining(['ipip', 'gre', 'sit']))
    expect(records.cells[1]!.missing).toEqual([])
    // Step 2 ran on both: passed on netns, failed on qemu.
    expect(records.steps.get(2)!.map((r) => [r.on, r.status])).toEqual([['netns', 'passed'], ['qemu 6.1', 'failed']])
  })

  test('the same run seen in reports/run and reports/by-backend counts once', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'labproof-review-merge-'))
    temps.push(out)
    mkdirSync(path.join(out, 'reports', 'run'), { recursive: true })
    cpSync(path.join(FIXTURES, 'review-claims', 'netns'), path.join(out, 'reports', 'by-backend', 'netns'), { recursive: true })
    cpSync(path.join(FIXTURES, 'review-claims', 'netns', 'review-claims.jsonl'), path.join(out, 'reports', 'run', 'review-claims.jsonl'))
    expect(recordFolders(out)).toEqual([path.join(out, 'reports', 'by-backend', 'netns'), path.join(out, 'reports', 'run')])
    const records = readMergedRecords([out]).get('review-claims')!
    expect(records.cells).toHaveLength(1)
    for (const runs of records.steps.values()) expect(runs).toHaveLength(1)
    // Pcaps are named from the by-backend folder, where the run keeps them.
    expect(records.steps.get(8)![0]!.pcaps).toEqual([path.join(out, 'reports', 'by-backend', 'netns', 'review-claims', 'step-8-capture_host01_ns1_lo_icmp_.pcap')])
  })

  const BOOKWORM = 'Debian GNU/Linux 12 (bookworm)'
  test.each([
    ['netns', '6.18.44-fc-v1045', BOOKWORM, 'netns'],
    ['qemu', '6.1.0-57-cloud-amd64', BOOKWORM, 'qemu 6.1'],
    ['qemu kernel 5.10', '5.10.0-33-amd64', 'Debian GNU/Linux 11 (bullseye)', 'qemu 5.10'],
    ['vagrant', '6.1.0-57-cloud-amd64', BOOKWORM, 'vagrant 6.1'],
    ['docker bookworm', '6.18.44-fc-v1045', BOOKWORM, 'docker bookworm'],
    ['docker', '6.18.44-fc-v1045', 'Debian GNU/Linux 13 (trixie)', 'docker trixie'],
    ['qemu', undefined, undefined, 'qemu'],
  ])('cell %s on kernel %s, %s is named %s', (cell, kernel, distro, label) => {
    expect(cellLabel(cell, kernel, distro)).toBe(label)
  })
})

describe('verdicts of a netns run (review-claims)', async () => {
  const s = load(REVIEW_CLAIMS)
  const records = readMergedRecords([path.join(FIXTURES, 'review-claims')]).get('review-claims')
  const r = reviewDocument(s, records, await readDocument(s, []))

  test('one claim of each verdict', () => {
    expect(Object.fromEntries(r.rows.filter((x): x is ClaimRow => x.kind === 'claim').map((c) => [c.id, c.verdict]))).toEqual({
      'ns-answers-own-address': 'confirmed',
      'loopback-up-from-start': 'refuted',
      'ipip-tunnel-comes-up': 'not run yet',
      'laptop-nat': 'not testable here',
      'veth-mtu-1500': 'not asserted',
      'replies-ttl-1': 'contradicted',
    })
    expect(claim(r, 'ns-answers-own-address').detail).toBe('confirmed on netns')
    expect(claim(r, 'loopback-up-from-start').detail).toBe('refuted on netns')
    expect(claim(r, 'ipip-tunnel-comes-up').detail).toBe('not run yet: step 10: skipped on netns: host01: kernel lacks ipip (CONFIG_NET_IPIP); needs ipip, which netns lacks: try labproof run review-claims --backend qemu')
    expect(claim(r, 'replies-ttl-1').detail).toMatch(/^contradicted: step 12 failed on netns: expected ping 10\.9\.0\.2 from host01\/ns1: every reply with ttl 1; got ttl 64/)
  })

  test('commands: confirmed where they passed, not run yet where skipped; coverage counts them', () => {
    expect(command(r, 8)).toMatchObject({ verdict: 'confirmed', line: 13, claims: ['ns-answers-own-address'] })
    expect(command(r, 10)).toMatchObject({ verdict: 'not run yet', line: 19 })
    expect(r.coverage).toEqual({
      claims: 6, asserted: 4, untestable: 1, commands: 7, runVerbatim: 6,
      claimVerdicts: { confirmed: 1, refuted: 1, 'not run yet': 1, 'not testable here': 1, 'not asserted': 1, contradicted: 1 },
      commandVerdicts: { confirmed: 6, 'not run yet': 1 },
    })
  })

  test('records of an older version of the scenario (another step at that number) do not count', () => {
    // The same scenario with one more step at the top: every recorded step number now names
    // another step.
    const text = readFileSync(REVIEW_CLAIMS, 'utf8').replace('steps:\n', 'steps:\n  - { on: host01, run: ip link show, added: true }\n')
    const moved = reviewDocument(load(REVIEW_CLAIMS, text), records)
    expect(claim(moved, 'loopback-up-from-start').verdict).toBe('not run yet')
    expect(claim(moved, 'loopback-up-from-start').detail).toMatch(/step 7: 1 record of an older version of the scenario \(its step 7 was another step\) not counted/)
    expect(moved.coverage.runVerbatim).toBe(0)
  })

  test('a claim line past the end of the document is said to be, and no text is shown for it', () => {
    const short = reviewDocument(s, records, { file: 'short.md', lines: readFileSync(path.join(ROOT, 'test', 'scenarios', 'review-claims.md'), 'utf8').split('\n').slice(0, 20), commandLines: new Map() })
    expect(claim(short, 'veth-mtu-1500')).toMatchObject({ lineProblem: 'line 23 is past the end of the document (20 lines)' })
    expect(claim(short, 'veth-mtu-1500')).not.toHaveProperty('original')
    expect(claim(short, 'ns-answers-own-address').original).toBe('Once the link is up, the namespace answers a ping to its own address:')
  })

  test('with no records at all, every tested claim is not run yet, and says how to run it', () => {
    const none = reviewDocument(s, undefined)
    expect(claim(none, 'ns-answers-own-address')).toMatchObject({ verdict: 'not run yet', detail: 'not run yet: step 8: no run in the results reached it; labproof run review-claims runs it' })
    expect(none.backends).toEqual([])
  })
})

describe('verdicts merged over two result folders: netns and qemu (review-claims)', async () => {
  const s = load(REVIEW_CLAIMS)
  const records = readMergedRecords([path.join(FIXTURES, 'review-claims'), path.join(FIXTURES, 'review-claims-qemu')]).get('review-claims')
  const r = reviewDocument(s, records)

  test('each backend named, a VM backend with its kernel', () => {
    expect(r.backends).toEqual(['netns (kernel 6.18.44-fc-v1045)', 'qemu 6.1 (kernel 6.1.0-57-cloud-amd64)'])
  })

  test('a claim whose step passed on both backends names both', () => {
    expect(claim(r, 'loopback-up-from-start')).toMatchObject({ verdict: 'refuted', detail: 'refuted on netns and qemu 6.1' })
    expect(command(r, 1).detail).toBe('ran verbatim and did what the document shows, on netns and qemu 6.1')
  })

  test('a step that passed on netns and failed on qemu is a failure, naming qemu', () => {
    const c = claim(r, 'ns-answers-own-address')
    expect(c.verdict).toBe('contradicted')
    expect(c.detail).toMatch(/^contradicted: step 8 failed on qemu 6\.1: could not read the capture on host01\/ns1:lo/)
    expect(c.evidence[0]).toMatchObject({ passedOn: ['netns'], failedOn: ['qemu 6.1'] })
    expect(command(r, 8).verdict).toBe('failed')
  })
})

describe('verdicts merged over netns and a qemu run that failed (ipip-tunnels)', () => {
  const s = load(IPIP)
  const r = reviewDocument(s, readMergedRecords([path.join(FIXTURES, 'ipip-tunnels')]).get('ipip-tunnels'))

  test('a step that failed on one backend fails the command, naming it', () => {
    // Step 2 is an added step, not a command of the document; step 23 is the first command, and
    // was blocked on qemu by step 2's failure but passed on netns.
    expect(command(r, 23)).toMatchObject({ verdict: 'confirmed', detail: 'ran verbatim and did what the document shows, on netns' })
    expect(command(r, 23).evidence.runs.map((x) => [x.on, x.status, x.reason])).toEqual([['netns', 'passed', undefined], ['qemu 6.1', 'skipped', 'blocked by step 2']])
  })

  test('an ipip step neither backend reached: not run yet, with each backend\'s reason', () => {
    expect(command(r, 64).verdict).toBe('not run yet')
    expect(command(r, 64).detail).toBe('not run yet: skipped on netns: host01: kernel lacks ipip (CONFIG_NET_IPIP); skipped on qemu 6.1: blocked by step 2; needs ipip, which netns lacks: try labproof run ipip-tunnels --backend qemu')
  })

  test('an added command with an erratum (one the document implies) is shown, outside the coverage of the document\'s commands', () => {
    expect(command(r, 109)).toMatchObject({ added: true, verdict: 'confirmed only as corrected', command: 'echo 1 /proc/sys/net/ipv4/ip_forward' })
    expect(r.coverage.commands).toBe(r.rows.filter((x) => x.kind === 'command' && !x.added).length)
    expect(r.coverage.commands).toBe(51)
  })

  test('an erratum that passed is confirmed only as corrected, with what the verbatim command did', () => {
    expect(command(r, 53)).toMatchObject({
      verdict: 'confirmed only as corrected',
      erratum: { corrected: 'echo 1 > /proc/sys/net/ipv4/ip_forward', outcome: 'exit 0: 1 /proc/sys/net/ipv4/ip_forward; net.ipv4.ip_forward = 0 on host01' },
    })
  })
})

describe('errata from the merged records', () => {
  test('errata confirmed on netns carry its outcome; the ipip ones say which backend can run them', async () => {
    const rows = await collectErrata([load(IPIP)], [path.join(FIXTURES, 'ipip-tunnels')])
    expect(rows.map((e) => [e.step, e.confirmedOn ?? e.notRun])).toEqual([
      [53, ['netns']],
      [71, 'skipped on netns: host01: kernel lacks ipip (CONFIG_NET_IPIP); skipped on qemu 6.1: blocked by step 2; needs ipip, which netns lacks: try labproof run ipip-tunnels --backend qemu'],
      [76, expect.stringMatching(/^skipped on netns: .*try labproof run ipip-tunnels --backend qemu$/)],
      [77, expect.stringMatching(/^skipped on netns: .*try labproof run ipip-tunnels --backend qemu$/)],
      [100, ['netns']],
      [102, ['netns']],
      [109, ['netns']],
      [118, expect.stringMatching(/^skipped on netns: .*try labproof run ipip-tunnels --backend qemu$/)],
    ])
    expect(rows.find((e) => e.step === 100)!.outcome).toBe('exit 7: SIOCADDRT: No such device')
  })
})
