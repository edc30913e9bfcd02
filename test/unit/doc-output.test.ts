import { describe, expect, test } from 'vitest'
import { compareWithDocument, normalizeLine } from '../../harness/scenario/doc-output.ts'

describe('compareWithDocument', () => {
  test('interface indexes, trailing spaces and padding are not differences', () => {
    const doc = '11: veth-1-br@if12: <BROADCAST,MULTICAST> mtu 1500 master vbridge state disabled priority 32 cost 2'
    const real = '4: veth-1-br@if5: <BROADCAST,MULTICAST> mtu 1500 master vbridge state disabled priority 32 cost 2 \n'
    expect(compareWithDocument(doc, real).matches).toBe(true)
  })

  test('a real difference is found and shown beside the real output', () => {
    const doc = '10.10.20.0      10.10.10.1      255.255.255.0   UG    0      0        0 v1'
    const real = 'Kernel IP routing table\n10.10.10.0      0.0.0.0         255.255.255.0   U     0      0        0 v1\n'
    const c = compareWithDocument(doc, real)
    expect(c.matches).toBe(false)
    expect(c.sideBySide).toContain('≠ 10.10.20.0      10.10.10.1')
    expect(c.sideBySide).toContain('10.10.10.0      0.0.0.0')
  })

  test('order matters: document lines must appear in the order shown', () => {
    expect(compareWithDocument('ns1\nns2', 'ns2\nns1\n').matches).toBe(false)
    expect(compareWithDocument('ns2\nns1', 'ns3\nns2\nns1\n').matches).toBe(true)
  })

  test('MAC addresses, counters and times are masked', () => {
    expect(normalizeLine('        ether be:35:a6:8c:0b:03  txqueuelen 1000  (Ethernet)')).toBe('ether <mac> txqueuelen 1000 (Ethernet)')
    expect(normalizeLine('        RX packets 138  bytes 12040 (11.7 KiB)')).toBe('RX packets <n> bytes <n>')
    expect(normalizeLine('64 bytes from 10.10.20.2: icmp_seq=1 ttl=63 time=0.036 ms')).toBe('64 bytes from 10.10.20.2: icmp_seq=1 ttl=63 time=<t>')
  })

  test('a TTL is never masked', () => {
    expect(compareWithDocument('64 bytes from 8.8.8.8: icmp_seq=1 ttl=127 time=175 ms', '64 bytes from 8.8.8.8: icmp_seq=1 ttl=62 time=0.1 ms').matches).toBe(false)
  })

  // The document's ping (000, ns2 -> 10.10.10.2) ran until ^C after 4 replies; labproof's run of
  // the same command, bounded to 3 requests, printed this.
  const DOC_PING_4 = `PING 10.10.10.2 (10.10.10.2) 56(84) bytes of data.
64 bytes from 10.10.10.2: icmp_seq=1 ttl=63 time=0.071 ms
64 bytes from 10.10.10.2: icmp_seq=2 ttl=63 time=0.086 ms
64 bytes from 10.10.10.2: icmp_seq=3 ttl=63 time=0.054 ms
64 bytes from 10.10.10.2: icmp_seq=4 ttl=63 time=0.098 ms
^C
--- 10.10.10.2 ping statistics ---
4 packets transmitted, 4 received, 0% packet loss, time 3004ms
rtt min/avg/max/mdev = 0.054/0.077/0.098/0.017 ms`
  const BOUNDED_3 = `PING 10.10.10.2 (10.10.10.2) 56(84) bytes of data.
64 bytes from 10.10.10.2: icmp_seq=1 ttl=63 time=0.081 ms
64 bytes from 10.10.10.2: icmp_seq=2 ttl=63 time=0.062 ms
64 bytes from 10.10.10.2: icmp_seq=3 ttl=63 time=0.058 ms

--- 10.10.10.2 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time 410ms
rtt min/avg/max/mdev = 0.058/0.067/0.081/0.010 ms
`

  test('a ping the document stopped with ^C: replies past the bounded run are not compared', () => {
    const c = compareWithDocument(DOC_PING_4, BOUNDED_3)
    expect(c.matches).toBe(true)
    expect(c.sideBySide).toContain('~ 64 bytes from 10.10.10.2: icmp_seq=4')
  })

  test('…but the replies the run did ask for, their TTL and the loss still are', () => {
    expect(compareWithDocument(DOC_PING_4, BOUNDED_3.replace(/ttl=63/g, 'ttl=64')).matches).toBe(false)
    const lost = BOUNDED_3.replace(/^64 bytes.*icmp_seq=3.*\n/m, '').replace('3 received, 0% packet loss', '2 received, 33.3333% packet loss')
    expect(compareWithDocument(DOC_PING_4, lost).matches).toBe(false)
  })

  test('without ^C in the document, every reply it shows must be there', () => {
    expect(compareWithDocument(DOC_PING_4.replace('^C\n', ''), BOUNDED_3).matches).toBe(false)
  })

  test('cgroup hierarchy numbers and mountinfo ids are the machine\'s; the paths are compared', () => {
    // The document's lines, then what a netns host printed for the same commands.
    const doc = '7:freezer:/moelove-sub2\n1238 1230 0:37 /.. /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,freezer'
    const real = '6:freezer:/moelove-sub2\n403 402 0:34 /.. /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,freezer\n'
    expect(compareWithDocument(doc, real).matches).toBe(true)
    expect(compareWithDocument(doc, real.replace('/moelove-sub2', '/')).matches).toBe(false)
    expect(compareWithDocument(doc, real.replace(' /.. ', ' / ')).matches).toBe(false)
    expect(normalizeLine('0::/user.slice/user-1000.slice/session-2.scope')).toBe('<hierarchy>::/user.slice/user-1000.slice/session-2.scope')
    expect(normalizeLine('9:name=systemd:/')).toBe('<hierarchy>:name=systemd:/')
  })
})

