// The index `labproof list` answers from: used only while every file the listing was made from
// is as it was, for the same build, directory, arguments and environment.
import { mkdirSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, expect, test } from 'vitest'
import { lookUpListing, rememberListing, type ListIndexOptions } from '../../harness/cli/list-index.ts'

let dir: string
let o: ListIndexOptions
let scenario: string

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'labproof-list-index-'))
  mkdirSync(path.join(dir, 'work', 'scenarios'), { recursive: true })
  scenario = path.join(dir, 'work', 'scenarios', 'a.yaml')
  writeFileSync(scenario, 'id: a\n')
  age(scenario)
  age(path.dirname(scenario))
  // The files are made just before each listing here: trusted (by default a file must be a
  // second old, so that it cannot have changed while the listing read it).
  o = { dir: path.join(dir, 'index'), build: '0.1.0 build-1', cwd: path.join(dir, 'work'), env: {}, settledMs: -60_000 }
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

/** A modification time a minute ago: an edit now changes it, whatever the clock's granularity. */
function age(file: string): void {
  const past = new Date(Date.now() - 60_000)
  utimesSync(file, past, past)
}

/** A listing made (after a lookup that found nothing) from the scenario and its folder. */
function listed(args: string[] = [], output = 'a\n'): void {
  expect(lookUpListing(args, o)).toBeUndefined()
  rememberListing(output, [scenario, path.dirname(scenario), path.join(dir, 'work', 'doc.txt')])
}

test('the same command finds the listing while nothing changed', () => {
  listed()
  expect(lookUpListing([], o)).toBe('a\n')
  expect(lookUpListing([], o)).toBe('a\n')
})

test('another build, directory, argument list or environment does not find it', () => {
  listed()
  expect(lookUpListing([], { ...o, build: '0.1.0 build-2' })).toBeUndefined()
  expect(lookUpListing([], { ...o, cwd: dir })).toBeUndefined()
  expect(lookUpListing(['a'], o)).toBeUndefined()
  expect(lookUpListing([], { ...o, env: { LABPROOF_DOCS: '/docs' } })).toBeUndefined()
  expect(lookUpListing([], { ...o, env: { LABPROOF_MAX_STEPS: '5' } })).toBeUndefined()
  // A variable the listing does not depend on changes nothing.
  expect(lookUpListing([], { ...o, env: { LABPROOF_JOBS: '2' } })).toBe('a\n')
})

test('an edited file, even of the same size, is not found', () => {
  listed()
  writeFileSync(scenario, 'id: b\n')
  expect(lookUpListing([], o)).toBeUndefined()
})

test('a file added to a folder it was made from, or one renamed over a file, is not found', () => {
  listed()
  writeFileSync(path.join(dir, 'work', 'scenarios', 'b.yaml'), 'id: b\n')
  expect(lookUpListing([], o)).toBeUndefined()
  rmSync(path.join(dir, 'work', 'scenarios', 'b.yaml'))
  age(path.dirname(scenario))
  listed()
  const other = path.join(dir, 'other.yaml')
  writeFileSync(other, 'id: a\n')
  renameSync(other, scenario)
  expect(lookUpListing([], o)).toBeUndefined()
})

test('a file that was absent (a document not at hand) and appears is not found', () => {
  listed()
  writeFileSync(path.join(dir, 'work', 'doc.txt'), 'the document\n')
  expect(lookUpListing([], o)).toBeUndefined()
})

test('a listing made from a file changed just before it began is not kept', () => {
  o = { ...o, settledMs: undefined }
  writeFileSync(scenario, 'id: c\n') // a second ago at most: it may change while the listing is made
  listed()
  expect(lookUpListing([], o)).toBeUndefined()
})

test('without an index folder or build (running from the TypeScript) nothing is kept', () => {
  const none = { ...o, dir: undefined }
  expect(lookUpListing([], none)).toBeUndefined()
  rememberListing('a\n', [scenario])
  expect(lookUpListing([], o)).toBeUndefined()
})
