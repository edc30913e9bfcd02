import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { ReplyWait } from '../../harness/checks/reply-wait.ts'
import { pingCommand, pingUntilAnsweredCommand } from '../../harness/checks/ping.ts'
import { firstRequests, parsePing } from '../../harness/parse/ping.ts'

const fixture = (name: string) => parsePing(readFileSync(new URL(`../fixtures/outputs/${name}`, import.meta.url), 'utf8'))

describe('how long a "no reply" check waits', () => {
  test('a second when the lab sets nothing (VMs, SSH hosts, grading)', () => {
    expect(new ReplyWait().seconds).toBe(1)
  })

  test("the backend's least wait while replies are fast", () => {
    const wait = new ReplyWait(0.1)
    wait.note(fixture('ping-reply.txt')) // slowest reply 0.254 ms
    expect(wait.seconds).toBe(0.1)
    expect(wait.describe()).toBe('no reply within 100 ms (slowest reply in this lab 0.254 ms)')
  })

  test('grows with the slowest reply the lab has shown, up to a second', () => {
    const wait = new ReplyWait(0.1)
    const slow = (ms: number) => ({ ...fixture('ping-reply.txt'), replies: [{ from: '10.0.0.1', seq: 1, ttl: 64, timeMs: ms }] })
    wait.note(slow(3.12))
    expect(wait.seconds).toBe(0.32) // 100 × 3.12 ms, rounded up to 10 ms
    wait.note(slow(0.4)) // a faster reply later does not shorten it
    expect(wait.seconds).toBe(0.32)
    wait.note(slow(40))
    expect(wait.seconds).toBe(1)
  })

  test('a ping without replies changes nothing', () => {
    const wait = new ReplyWait(0.1)
    wait.note(fixture('ping-no-reply.txt'))
    expect(wait.describe()).toBe('no reply within 100 ms (no reply timed in this lab yet)')
  })
})

describe('the ping commands of checks', () => {
  test('a "no reply" ping waits the given fraction of a second after its last request', () => {
    expect(pingCommand({ to: '10.10.30.2', count: 3 }, 0.01, 0.25)).toBe('ping -c 3 -i 0.01 -W 0.25 10.10.30.2')
  })

  test('a loss claim pings until every request is answered, or a deadline giving each a second', () => {
    expect(pingUntilAnsweredCommand({ to: '10.10.20.2', count: 3 }, 0.01)).toBe('ping -c 3 -i 0.01 -w 2 10.10.20.2')
    expect(pingUntilAnsweredCommand({ to: '10.10.20.2', count: 10, interface: 'v1' }, 0.2)).toBe('ping -c 10 -i 0.2 -w 3 -I v1 10.10.20.2')
  })
})

describe('loss judged on the requests asked for (ping -c 3 -w 2, real output)', () => {
  test('all answered: the ping as it is', () => {
    const p = fixture('ping-deadline-answered.txt')
    expect(firstRequests(p, 3)).toEqual(p)
  })

  test('ping sent a 4th request because the 2nd got no reply: 1 of the first 3 lost', () => {
    const p = fixture('ping-deadline-one-lost.txt')
    expect(p).toMatchObject({ transmitted: 4, received: 3, lossPercent: 25 })
    const first = firstRequests(p, 3)
    expect(first).toMatchObject({ transmitted: 3, received: 2 })
    expect(first.lossPercent).toBeCloseTo(33.33, 2)
    expect(first.replies.map((r) => r.seq)).toEqual([1, 3])
  })
})
