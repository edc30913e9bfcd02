import { describe, expect, test } from 'vitest'
import { SessionFrames, type SessionAnswer } from '../../harness/backends/shared/ssh-session.ts'

// What the session server writes (SESSION_SERVER): a ready line, then per command a header line,
// its stdout, the session's mark, its stderr and the mark.
const MARK = 'labproof-end-00112233445566778899aabb'
const framed = (s: Buffer) => Buffer.concat([s, Buffer.from(`\n${MARK}\n`)])

function answer(id: string, status: number, out: Buffer, err: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`end ${id} ${status}\n`), framed(out), framed(err)])
}

function feed(chunks: Buffer[]): SessionAnswer[] {
  const frames = new SessionFrames(MARK)
  return chunks.flatMap((c) => frames.push(c))
}

describe('the SSH session server\'s answers', () => {
  test('a ready line, then commands\' results with exact bytes, split at every byte boundary', () => {
    // Output that looks like a header, ends without a newline, ends with one, and every byte value.
    const out = Buffer.concat([Buffer.from('end x 0\nnot a frame\n'), Buffer.from(Array.from({ length: 256 }, (_, i) => i))])
    const err = Buffer.from('partial\n\n')
    const whole = Buffer.concat([Buffer.from('ready /run/labproof-ssh-7\n'), answer('a-1', 3, out, err), answer('a-2', 0, Buffer.alloc(0), Buffer.from('x'))])
    const expected: SessionAnswer[] = [
      { kind: 'line', line: 'ready /run/labproof-ssh-7' },
      { kind: 'end', id: 'a-1', status: 3, stdout: out, stderr: err },
      { kind: 'end', id: 'a-2', status: 0, stdout: Buffer.alloc(0), stderr: Buffer.from('x') },
    ]
    for (let cut = 0; cut <= whole.length; cut++) {
      expect([cut, feed([whole.subarray(0, cut), whole.subarray(cut)])]).toEqual([cut, expected])
    }
    // One byte at a time.
    expect(feed([...whole].map((b) => Buffer.from([b])))).toEqual(expected)
  })

  test('a result is not given before its stderr\'s mark has come', () => {
    const frames = new SessionFrames(MARK)
    const whole = answer('b-0', 1, Buffer.from('12345'), Buffer.from('678'))
    expect(frames.push(whole.subarray(0, whole.length - 1))).toEqual([])
    expect(frames.push(whole.subarray(whole.length - 1))).toEqual([{ kind: 'end', id: 'b-0', status: 1, stdout: Buffer.from('12345'), stderr: Buffer.from('678') }])
  })

  test('anything else the server says is a line (why it could not start)', () => {
    expect(feed([Buffer.from('no flock in this host\n')])).toEqual([{ kind: 'line', line: 'no flock in this host' }])
  })
})
