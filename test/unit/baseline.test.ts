// The baseline of expected skips against run records of a real netns run (this machine's
// kernel lacks ipip: twelve steps of ipip-tunnels skip; step 63 failed and blocked the rest).
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { baselineFromRun, compareWithBaseline, readStepRecords, type BaselineFile } from '../../harness/baseline.ts'

const RECORDS = fileURLToPath(new URL('../fixtures/run-records/', import.meta.url))
const IPIP = 'host01: kernel lacks ipip (CONFIG_NET_IPIP)'

describe('a baseline of expected skips', () => {
  test('written from a run: the probe skips, not the steps blocked by a failure', async () => {
    const records = await readStepRecords(RECORDS)
    const b = baselineFromRun(records, ['netns'])
    expect(b.cells.netns!.map((s) => s.step)).toEqual([36, 37, 38, 40, 41, 42, 46, 47, 48, 49, 51, 52])
    expect(new Set(b.cells.netns!.map((s) => `${s.scenario}: ${s.reason}`))).toEqual(new Set([`ipip-tunnels: ${IPIP}`]))
  })

  test('the run it was written from matches it', async () => {
    const records = await readStepRecords(RECORDS)
    expect(compareWithBaseline(baselineFromRun(records, ['netns']), records, ['netns'])).toEqual({ unexpected: [], nowRun: [], missingCells: [] })
  })

  test('a skip the baseline lacks, or expects for another reason, is unexpected; an expected skip that ran is reported', async () => {
    const records = await readStepRecords(RECORDS)
    const b = baselineFromRun(records, ['netns'])
    const edited: BaselineFile = { cells: { netns: [
      ...b.cells.netns!.filter((s) => s.step !== 36).map((s) => (s.step === 37 ? { ...s, reason: 'host01: kernel lacks gre (CONFIG_NET_IPGRE)' } : s)),
      { scenario: 'namespace-routing', step: 2, reason: 'host01: no ip' },
    ] } }
    expect(compareWithBaseline(edited, records, ['netns'])).toEqual({
      unexpected: [
        `netns: ipip-tunnels step 36 skipped: ${IPIP}`,
        `netns: ipip-tunnels step 37 skipped: ${IPIP} (the baseline expects: host01: kernel lacks gre (CONFIG_NET_IPGRE))`,
      ],
      nowRun: ['netns: namespace-routing step 2 passed (expected skipped: host01: no ip)'],
      missingCells: [],
    })
  })

  test('a cell the baseline has no entry for is named; cells that did not run are not judged', async () => {
    const records = await readStepRecords(RECORDS)
    expect(compareWithBaseline({ cells: { 'docker bookworm': [] } }, records, ['netns', 'qemu kernel 6.1']).missingCells).toEqual(['netns'])
  })

  test('rewriting keeps the other cells and the scenarios that did not run', async () => {
    const records = await readStepRecords(RECORDS)
    const previous: BaselineFile = { cells: {
      'docker bookworm': [{ scenario: 'namespace-kinds', step: 9, reason: 'host01: cannot make a time namespace' }],
      netns: [{ scenario: 'namespace-kinds', step: 4, reason: 'x' }, { scenario: 'ipip-tunnels', step: 1, reason: 'stale' }],
    } }
    const next = baselineFromRun(records, ['netns'], previous)
    expect(next.cells['docker bookworm']).toEqual(previous.cells['docker bookworm'])
    expect(next.cells.netns!.filter((s) => s.scenario === 'namespace-kinds')).toEqual([{ scenario: 'namespace-kinds', step: 4, reason: 'x' }])
    expect(next.cells.netns!.some((s) => s.reason === 'stale')).toBe(false)
  })
})
