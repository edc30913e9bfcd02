import { describe, expect, test } from 'vitest'
import { boundCommand } from '../../harness/scenario/bounded.ts'

describe('boundCommand', () => {
  test('a ping with no count gets a count, a short interval and a reply deadline', () => {
    const b = boundCommand('ip netns exec ns1 ping 10.10.20.2')
    expect(b.command).toBe('ip netns exec ns1 ping -c 3 -i 0.01 -W 1 10.10.20.2')
    expect(b.isPing).toBe(true)
    expect(b.notes.join(' ')).toMatch(/bounded to 3 echo requests/)
  })

  test("the document's own count is kept", () => {
    const b = boundCommand('ip netns exec ns0 ping -c 10 192.168.1.99')
    expect(b.command).toBe('ip netns exec ns0 ping -i 0.01 -W 1 -c 10 192.168.1.99')
    expect(b.notes.join(' ')).not.toMatch(/bounded to/)
  })

  test('a ping that is already bounded runs as written', () => {
    const b = boundCommand('ping -c 1 -i 0.2 -W 1 -I veth0 1.2.3.102')
    expect(b.command).toBe('ping -c 1 -i 0.2 -W 1 -I veth0 1.2.3.102')
    expect(b.notes).toEqual([])
  })

  test('tcpdump without a packet count is stopped after a few seconds', () => {
    const b = boundCommand('tcpdump -n -i veth1')
    expect(b.command).toBe('timeout -s INT 3 tcpdump -n -i veth1')
    expect(b.isPing).toBe(false)
  })

  test('other commands and compound commands are left alone', () => {
    expect(boundCommand('ip netns add ns1')).toEqual({ command: 'ip netns add ns1', notes: [], isPing: false })
    expect(boundCommand('ping 1.2.3.4 | head -1').command).toBe('ping 1.2.3.4 | head -1')
  })
})
