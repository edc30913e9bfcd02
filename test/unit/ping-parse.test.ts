import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { parsePing } from '../../harness/parse/ping.ts'

const fixture = (name: string) => readFileSync(new URL(`../fixtures/outputs/${name}`, import.meta.url), 'utf8')

describe('parsePing on real iputils output', () => {
  test('replies with their TTL and the summary', () => {
    const p = parsePing(fixture('ping-reply.txt'))
    expect(p.transmitted).toBe(2)
    expect(p.received).toBe(2)
    expect(p.lossPercent).toBe(0)
    expect(p.replies.map((r) => [r.from, r.seq, r.ttl])).toEqual([['127.0.0.1', 1, 64], ['127.0.0.1', 2, 64]])
  })

  test('no reply: 100% loss, nothing received', () => {
    const p = parsePing(fixture('ping-no-reply.txt'))
    expect(p).toMatchObject({ transmitted: 2, received: 0, lossPercent: 100, replies: [] })
  })

  test('no route: the send error, nothing transmitted', () => {
    const p = parsePing(fixture('ping-unreachable-network.txt'))
    expect(p.sendError).toBe('connect: Network is unreachable')
    expect(p.received).toBe(0)
  })

  test("a document's ping cut short with ^C counts the replies it shows", () => {
    const doc = [
      'PING 10.10.20.2 (10.10.20.2) 56(84) bytes of data.',
      '64 bytes from 10.10.20.2: icmp_seq=1 ttl=63 time=0.036 ms',
      '64 bytes from 10.10.20.2: icmp_seq=2 ttl=63 time=0.040 ms',
      '^C',
    ].join('\n')
    const p = parsePing(doc)
    expect(p.received).toBe(2)
    expect(p.replies.every((r) => r.ttl === 63)).toBe(true)
  })

  test('ICMP errors from a router are reported, not counted as replies', () => {
    const out = [
      'PING 10.2.0.1 (10.2.0.1) 56(84) bytes of data.',
      'From 10.1.1.1 icmp_seq=1 Destination Host Unreachable',
      '',
      '--- 10.2.0.1 ping statistics ---',
      '3 packets transmitted, 0 received, +1 errors, 100% packet loss, time 2030ms',
    ].join('\n')
    const p = parsePing(out)
    expect(p.errors).toEqual(['10.1.1.1: Destination Host Unreachable'])
    expect(p).toMatchObject({ transmitted: 3, received: 0, lossPercent: 100 })
  })
})
