import { describe, expect, test } from 'vitest'
import { MarkedStream } from '../../harness/backends/shared/ssh-end-mark.ts'

const MARK = '\nlabproof-end-0123456789abcdef '

function feed(chunks: Array<string | Buffer>): MarkedStream {
  const s = new MarkedStream(MARK)
  for (const c of chunks) s.push(Buffer.isBuffer(c) ? c : Buffer.from(c))
  return s
}

describe('an SSH command\'s output up to its end mark', () => {
  test('output without a final newline keeps its last byte exactly', () => {
    const s = feed([`14${MARK}0\n`])
    expect(s.ended).toBe(true)
    expect(s.text()).toBe('14')
  })

  test('output before the mark is not ended yet, and stays whole', () => {
    const s = feed(['one\n', 'two\n'])
    expect(s.ended).toBe(false)
    expect(s.text()).toBe('one\ntwo\n')
  })

  test('a mark split across every byte boundary is still found', () => {
    const whole = `abc\ndef\n${MARK}3\n`
    for (let cut = 1; cut < whole.length; cut++) {
      for (let cut2 = cut + 1; cut2 <= whole.length; cut2++) {
        const s = feed([whole.slice(0, cut), whole.slice(cut, cut2), whole.slice(cut2)])
        expect([cut, cut2, s.ended, s.text()]).toEqual([cut, cut2, true, 'abc\ndef\n'])
      }
    }
  })

  test('what comes after the mark (a background job\'s output) is not the command\'s', () => {
    const s = feed([`mine${MARK}0\n`, 'late\n'])
    expect(s.text()).toBe('mine')
  })

  test('binary output is kept byte for byte', () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    const s = feed([bytes.subarray(0, 100), Buffer.concat([bytes.subarray(100), Buffer.from(`${MARK}0\n`)])])
    expect(s.ended).toBe(true)
    expect(s.bytes().equals(bytes)).toBe(true)
  })

  test('a line that only resembles the mark (another run\'s) is output', () => {
    const s = feed([`\nlabproof-end-ffffffffffffffff 0\n`, `x${MARK}0\n`])
    expect(s.text()).toBe('\nlabproof-end-ffffffffffffffff 0\nx')
  })
})
