// A scenario file is parsed once per text: in memory within a process, on disk across processes
// of one labproof build. What differs (the text, the build, the kind of reading) parses afresh;
// what JSON cannot carry is never kept; a cache that cannot be written costs only the parse.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest'
import { cachedParse, forgetParsed } from '../../harness/scenario/parse-cache.ts'

let dir: string
let computed: string[]
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'labproof-parse-cache-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})
beforeEach(() => {
  forgetParsed()
  computed = []
})

/** A stand-in for the YAML loader: counts its calls. */
function read(text: string): { words: string[]; n: number } {
  computed.push(text)
  return { words: text.split(' '), n: text.length }
}

test('the same text is read once, and each caller gets its own copy', () => {
  const options = { dir: path.join(dir, 'a'), build: 'b1' }
  const first = cachedParse('words', 'x.yaml', 'one two', () => read('one two'), options)
  first.words.push('changed by a caller')
  const second = cachedParse('words', 'x.yaml', 'one two', () => read('one two'), options)
  expect(second).toEqual({ words: ['one', 'two'], n: 7 })
  expect(computed).toEqual(['one two'])
})

test('another text, file or kind is read afresh', () => {
  const options = { dir: path.join(dir, 'b'), build: 'b1' }
  cachedParse('words', 'x.yaml', 'one two', () => read('one two'), options)
  cachedParse('words', 'x.yaml', 'one three', () => read('one three'), options)
  cachedParse('words', 'y.yaml', 'one three', () => read('one three'), options)
  cachedParse('other', 'y.yaml', 'one three', () => read('one three'), options)
  expect(computed).toEqual(['one two', 'one three', 'one three', 'one three'])
})

test('a new process of the same build reads it from disk; another build reads the file again', async () => {
  const options = { dir: path.join(dir, 'c'), build: 'b1' }
  cachedParse('words', 'x.yaml', 'one two', () => read('one two'), options)
  forgetParsed()
  expect(cachedParse('words', 'x.yaml', 'one two', () => read('one two'), options)).toEqual({ words: ['one', 'two'], n: 7 })
  expect(computed).toEqual(['one two'])
  forgetParsed()
  cachedParse('words', 'x.yaml', 'one two', () => read('one two'), { ...options, build: 'b2' })
  expect(computed).toEqual(['one two', 'one two'])
  // One entry per file and kind: the newer build's replaced the older's.
  expect(await readdir(options.dir)).toHaveLength(1)
})

test('without a disk cache, a new process reads the file again', () => {
  cachedParse('words', 'x.yaml', 'one two', () => read('one two'), {})
  forgetParsed()
  cachedParse('words', 'x.yaml', 'one two', () => read('one two'), {})
  expect(computed).toEqual(['one two', 'one two'])
})

test('a value JSON would change is not kept', () => {
  const options = { dir: path.join(dir, 'd'), build: 'b1' }
  const withDate = () => {
    computed.push('date')
    return { at: new Date(0) }
  }
  expect(cachedParse('dated', 'x.yaml', 't', withDate, options).at).toBeInstanceOf(Date)
  expect(cachedParse('dated', 'x.yaml', 't', withDate, options).at).toBeInstanceOf(Date)
  expect(computed).toEqual(['date', 'date'])
})

test('a reading that fails is not kept', () => {
  const options = { dir: path.join(dir, 'e'), build: 'b1' }
  const failing = () => {
    computed.push('fail')
    throw new Error('x.yaml:1:1: not valid YAML')
  }
  expect(() => cachedParse('words', 'x.yaml', ': :', failing, options)).toThrow('not valid YAML')
  expect(() => cachedParse('words', 'x.yaml', ': :', failing, options)).toThrow('not valid YAML')
  expect(computed).toEqual(['fail', 'fail'])
})

test('a cache folder that cannot be made costs only the parse', async () => {
  // A file where the folder would be: not even root can make it.
  const blocked = path.join(dir, 'blocked')
  await writeFile(blocked, '')
  const options = { dir: path.join(blocked, 'parsed'), build: 'b1' }
  expect(cachedParse('words', 'x.yaml', 'one two', () => read('one two'), options)).toEqual({ words: ['one', 'two'], n: 7 })
  forgetParsed()
  cachedParse('words', 'x.yaml', 'one two', () => read('one two'), options)
  expect(computed).toEqual(['one two', 'one two'])
})
