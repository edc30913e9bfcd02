// RunRecordTail: the JUnit reporter's view of a scenario's run records as they grow. It must see
// every complete line once, never a line still being written, and start again when the file is
// replaced (a new run) or emptied.
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, expect, test } from 'vitest'
import { readLabFacts, readStepFacts, RunRecordTail } from '../../harness/report/run-record.ts'

let dir: string
let file: string

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'labproof-tail-'))
  file = path.join(dir, 'lab.jsonl')
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const line = (fact: object) => `${JSON.stringify({ run: 'r1', cell: 'netns', ...fact })}\n`

test('a missing file has no facts; appended lines are taken in once each, in order', () => {
  const tail = new RunRecordTail(file)
  expect(tail.refresh().steps).toEqual([])
  appendFileSync(file, line({ kind: 'lab', lab: 'l1', facts: { kernel: '6.1' } }) + line({ kind: 'step-started', step: 1 }))
  tail.refresh()
  expect(tail.steps.map((f) => [f.step, f.status])).toEqual([[1, 'running']])
  expect(tail.labs.map((f) => f.facts)).toEqual([{ kernel: '6.1' }])
  appendFileSync(file, line({ kind: 'step', step: 1, status: 'passed', transcript: 'ok' }))
  expect(tail.refresh().steps.map((f) => [f.step, f.status])).toEqual([[1, 'running'], [1, 'passed']])
  // Nothing new: nothing taken in twice.
  expect(tail.refresh().steps).toHaveLength(2)
  // The same facts as reading the whole file.
  expect(tail.steps).toEqual(readStepFacts(dir, 'lab'))
  expect(tail.labs).toEqual(readLabFacts(dir, 'lab'))
})

test('a line still being written is taken in only once it is complete, even cut inside a character', () => {
  const tail = new RunRecordTail(file)
  const whole = Buffer.from(line({ kind: 'step', step: 2, status: 'passed', transcript: 'ping → 10.0.0.1 ✓' }))
  const cut = whole.indexOf(Buffer.from('✓')) + 1 // inside the three bytes of ✓
  appendFileSync(file, whole.subarray(0, cut))
  expect(tail.refresh().steps).toEqual([])
  appendFileSync(file, whole.subarray(cut))
  expect(tail.refresh().steps.map((f) => f.transcript)).toEqual(['ping → 10.0.0.1 ✓'])
})

test('a line that is not a fact is left out; the lines after it are read', () => {
  const tail = new RunRecordTail(file)
  appendFileSync(file, '{"kind":"step","step":1,"sta\n' + line({ kind: 'step', step: 2, status: 'skipped', reason: 'blocked by step 1' }))
  expect(tail.refresh().steps.map((f) => [f.step, f.reason])).toEqual([[2, 'blocked by step 1']])
})

test('a file replaced (a new run) or emptied is read afresh', () => {
  const tail = new RunRecordTail(file)
  appendFileSync(file, line({ kind: 'step', step: 1, status: 'passed' }) + line({ kind: 'step', step: 2, status: 'passed' }))
  expect(tail.refresh().steps).toHaveLength(2)
  // Another file in its place (its inode number may be the old one's, freed and reused).
  rmSync(file)
  writeFileSync(file, line({ kind: 'step', step: 1, status: 'failed', reason: 'got ttl 64' }))
  expect(tail.refresh().steps.map((f) => [f.step, f.status])).toEqual([[1, 'failed']])
  // Rewritten in place by another run, longer than what was read: its first line differs.
  writeFileSync(file, line({ kind: 'step', step: 1, status: 'passed', run: 'r2' }) + line({ kind: 'step', step: 2, status: 'passed', run: 'r2' }))
  expect(tail.refresh().steps.map((f) => [f.run, f.step])).toEqual([['r2', 1], ['r2', 2]])
  writeFileSync(file, '') // emptied in place: shorter than what was read
  expect(tail.refresh().steps).toEqual([])
  rmSync(file)
  expect(tail.refresh().steps).toEqual([])
})
