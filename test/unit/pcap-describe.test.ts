// One line per packet for the real fixtures of test/fixtures/pcap/. The comments quote what
// `tcpdump -n -r FILE` (4.99.3) printed for the same packets; our lines say the same, shorter.
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { describeCapture, describePacket, formatRelativeTime, tcpFlagLetters } from '../../harness/capture/describe.ts'
import { readPcap, type Capture } from '../../harness/capture/pcap.ts'

function fixtureBytes(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`../fixtures/pcap/${name}`, import.meta.url)))
}

function fixture(name: string): Capture {
  return readPcap(fixtureBytes(name), { source: name })
}

describe('describeCapture on real captures', () => {
  test('ARP request that nobody answers', () => {
    // 11:50:42.594026 ARP, Request who-has 1.2.3.102 tell 1.2.3.101, length 28  (three times)
    expect(describeCapture(fixture('ethernet-arp-unanswered.pcap'))).toEqual([
      '0.000000 ARP request who-has 1.2.3.102 tell 1.2.3.101',
      '1.035967 ARP request who-has 1.2.3.102 tell 1.2.3.101',
      '2.055968 ARP request who-has 1.2.3.102 tell 1.2.3.101',
    ])
  })

  test('routed ping seen behind the router: TTL 63 in, 64 out', () => {
    // 11:50:36.081766 ARP, Reply 10.10.20.2 is-at 02:00:0a:0a:14:02, length 28
    // 11:50:36.081769 IP 10.10.10.2 > 10.10.20.2: ICMP echo request, id 26423, seq 1, length 64   (ttl 63 with -v)
    expect(describeCapture(fixture('ethernet-routed-ping.pcap'))).toEqual([
      '0.000000 ARP request who-has 10.10.20.2 tell 10.10.20.1',
      '0.000017 ARP reply 10.10.20.2 is-at 02:00:0a:0a:14:02',
      '0.000020 IP 10.10.10.2 > 10.10.20.2 ttl 63 ICMP echo request id 26423 seq 1',
      '0.000033 IP 10.10.20.2 > 10.10.10.2 ttl 64 ICMP echo reply id 26423 seq 1',
      '0.200338 IP 10.10.10.2 > 10.10.20.2 ttl 63 ICMP echo request id 26423 seq 2',
      '0.200361 IP 10.10.20.2 > 10.10.10.2 ttl 64 ICMP echo reply id 26423 seq 2',
    ])
  })

  test('a nanosecond capture prints nine decimals', () => {
    expect(describeCapture(fixture('ethernet-routed-ping-nano.pcap')).slice(2, 4)).toEqual([
      '0.000039148 IP 10.10.10.2 > 10.10.20.2 ttl 64 ICMP echo request id 26450 seq 1',
      '0.000074661 IP 10.10.20.2 > 10.10.10.2 ttl 63 ICMP echo reply id 26450 seq 1',
    ])
  })

  test('RAW capture on a tun device', () => {
    // 11:50:46.528290 IP 10.10.50.1 > 10.10.50.2: ICMP echo request, id 29695, seq 1, length 64
    expect(describeCapture(fixture('raw-tun-ping.pcap')).slice(0, 2)).toEqual([
      '0.000000 IP 10.10.50.1 > 10.10.50.2 ttl 64 ICMP echo request id 29695 seq 1',
      '0.000206 IP 10.10.50.2 > 10.10.50.1 ttl 64 ICMP echo reply id 29695 seq 1',
    ])
  })

  test('Linux SLL: the direction as tcpdump writes it (B, In, Out)', () => {
    // 11:50:37.789172   B ARP, Request who-has 10.10.10.1 tell 10.10.10.2, length 28
    // 11:50:37.789216 Out IP 10.10.10.2 > 10.10.20.2: ICMP echo request, id 26495, seq 1, length 64
    expect(describeCapture(fixture('sll-routed-ping.pcap'))).toEqual([
      '0.000000 B ARP request who-has 10.10.10.1 tell 10.10.10.2',
      '0.000022 Out ARP reply 10.10.10.1 is-at 02:00:0a:0a:0a:01',
      '0.000026 In IP 10.10.10.2 > 10.10.20.2 ttl 64 ICMP echo request id 26495 seq 1',
      '0.000035 Out ARP request who-has 10.10.20.2 tell 10.10.20.1',
      '0.000041 In ARP reply 10.10.20.2 is-at 02:00:0a:0a:14:02',
      '0.000044 Out IP 10.10.10.2 > 10.10.20.2 ttl 63 ICMP echo request id 26495 seq 1',
      '0.000054 In IP 10.10.20.2 > 10.10.10.2 ttl 64 ICMP echo reply id 26495 seq 1',
      '0.000056 Out IP 10.10.20.2 > 10.10.10.2 ttl 63 ICMP echo reply id 26495 seq 1',
    ])
  })

  test('Linux SLL2: the interface, by ifindex or by the name given for it', () => {
    const capture = fixture('sll2-routed-ping.pcap')
    expect(describeCapture(capture)[2]).toBe('0.000036 if2 In IP 10.10.10.2 > 10.10.20.2 ttl 64 ICMP echo request id 26764 seq 1')
    // In lpfix-r, ifindex 2 is r0 and 3 is r1 (tcpdump reading the file elsewhere can only guess).
    const names = new Map([[2, 'r0'], [3, 'r1']])
    expect(describeCapture(capture, { interfaceNames: names }).slice(4, 6)).toEqual([
      '0.000052 r1 In ARP reply 10.10.20.2 is-at 02:00:0a:0a:14:02',
      '0.000055 r1 Out IP 10.10.10.2 > 10.10.20.2 ttl 63 ICMP echo request id 26764 seq 1',
    ])
  })

  test('ICMP errors name what they quote', () => {
    // IP 10.10.10.1 > 10.10.10.2: ICMP time exceeded in-transit, length 92
    expect(describeCapture(fixture('ethernet-ttl-exceeded.pcap'))[1]).toBe(
      '0.000200 IP 10.10.10.1 > 10.10.10.2 ttl 64 ICMP time exceeded in-transit for [IP 10.10.10.2 > 10.10.20.2 ttl 1 ICMP echo request id 27168 seq 1]',
    )
    // IP 10.10.20.2 > 10.10.10.2: ICMP 10.10.20.2 udp port 9999 unreachable, length 43
    expect(describeCapture(fixture('ethernet-tcp-udp.pcap'))[9]).toBe(
      '0.000779 IP 10.10.20.2 > 10.10.10.2 ttl 63 ICMP port unreachable for [IP 10.10.10.2 > 10.10.20.2 ttl 63 UDP 40000 > 9999]',
    )
  })

  test('TCP flags in tcpdump letters, and UDP', () => {
    // Flags [S], [S.], [.], [P.] length 5, …, [F.]; then "10.10.10.2.40000 > 10.10.20.2.9999: UDP, length 7"
    const lines = describeCapture(fixture('ethernet-tcp-udp.pcap'))
    expect(lines.slice(0, 4)).toEqual([
      '0.000000 IP 10.10.10.2 > 10.10.20.2 ttl 64 TCP 49610 > 8080 [S] length 0',
      '0.000077 IP 10.10.20.2 > 10.10.10.2 ttl 63 TCP 8080 > 49610 [S.] length 0',
      '0.000093 IP 10.10.10.2 > 10.10.20.2 ttl 64 TCP 49610 > 8080 [.] length 0',
      '0.000342 IP 10.10.10.2 > 10.10.20.2 ttl 64 TCP 49610 > 8080 [P.] length 5',
    ])
    expect(lines[7]).toBe('0.000435 IP 10.10.10.2 > 10.10.20.2 ttl 64 TCP 49610 > 8080 [F.] length 0')
    expect(lines[8]).toBe('0.000733 IP 10.10.10.2 > 10.10.20.2 ttl 64 UDP 40000 > 9999 length 7')
  })

  test('IP-in-IP nests the inner datagram in brackets', () => {
    // IP 10.10.10.2 > 10.10.20.2: IP 172.16.10.10 > 172.16.20.20: ICMP echo request, id 19536, seq 1, length 29
    expect(describeCapture(fixture('ipip-routed.pcap')).slice(0, 2)).toEqual([
      '0.000000 IP 10.10.10.2 > 10.10.20.2 ttl 63 IPIP [IP 172.16.10.10 > 172.16.20.20 ttl 64 ICMP echo request id 19536 seq 1]',
      '0.000282 IP 10.10.20.2 > 10.10.10.2 ttl 64 IPIP [IP 172.16.20.20 > 172.16.10.10 ttl 64 ICMP echo reply id 19536 seq 1]',
    ])
  })

  test('VXLAN nests the inner Ethernet frame, MAC addresses included', () => {
    // 192.168.21.11.51238 > 192.168.21.12.4789: VXLAN, flags [I] (0x08), vni 42
    // IP 172.16.42.1 > 172.16.42.2: ICMP echo request, id 29936, seq 1, length 64
    const lines = describeCapture(fixture('vxlan-ping.pcap'))
    expect(lines[2]).toBe(
      '0.000042 IP 192.168.21.11 > 192.168.21.12 ttl 64 VXLAN vni 42 [ether 02:00:ac:10:2a:01 > ff:ff:ff:ff:ff:ff ARP request who-has 172.16.42.2 tell 172.16.42.1]',
    )
    expect(lines[4]).toBe(
      '0.000145 IP 192.168.21.11 > 192.168.21.12 ttl 64 VXLAN vni 42 [ether 02:00:ac:10:2a:01 > 02:00:ac:10:2a:02 IP 172.16.42.1 > 172.16.42.2 ttl 64 ICMP echo request id 29936 seq 1]',
    )
  })

  test("fragments: the first one's ICMP or UDP header, the others as slices", () => {
    // tcpdump -n -v: "id 56206, offset 0, flags [+] … ICMP echo request, id 23909, seq 1", then
    // "offset 1480, flags [+] … ip-proto-1", "offset 2960, flags [none] … ip-proto-1"
    const lines = describeCapture(fixture('ethernet-fragments.pcap'))
    expect(lines.slice(0, 3)).toEqual([
      '0.000000 IP 10.10.10.2 > 10.10.20.2 ttl 64 frag id 56206 offset 0 more ICMP echo request id 23909 seq 1',
      '0.000038 IP 10.10.10.2 > 10.10.20.2 ttl 64 frag id 56206 offset 1480 more proto 1, 1480 bytes',
      '0.000042 IP 10.10.10.2 > 10.10.20.2 ttl 64 frag id 56206 offset 2960 proto 1, 48 bytes',
    ])
    // "10.10.10.2.60645 > 10.10.20.2.9999: UDP, length 3000", then "ICMP 10.10.20.2 udp port 9999 unreachable"
    expect(lines.slice(6, 7)).toEqual(['0.204443 IP 10.10.10.2 > 10.10.20.2 ttl 64 frag id 37987 offset 0 more UDP 60645 > 9999 length 3000'])
    expect(lines[9]).toBe('0.204503 IP 10.10.20.2 > 10.10.10.2 ttl 63 ICMP port unreachable for [IP 10.10.10.2 > 10.10.20.2 ttl 63 UDP 60645 > 9999]')
  })

  test('a packet cut by the snapshot length says what is missing', () => {
    // tcpdump: 10.10.10.2 > 10.10.20.2:  [|icmp]
    expect(describeCapture(fixture('ethernet-snaplen-38.pcap'))[0]).toBe(
      '0.000000 IP 10.10.10.2 > 10.10.20.2 ttl 64 ICMP echo request [truncated: ICMP echo header, 4 of 8 bytes captured]',
    )
  })
})

describe('describePacket options', () => {
  test('linkHeaders prints the outer MAC addresses (like tcpdump -e), or the SLL sender', () => {
    const [arp] = fixture('ethernet-arp-unanswered.pcap').packets
    expect(describePacket(arp!, { linkHeaders: true })).toBe(
      '0.000000 ether 02:00:01:02:03:65 > ff:ff:ff:ff:ff:ff ARP request who-has 1.2.3.102 tell 1.2.3.101',
    )
    const [broadcast] = fixture('sll-routed-ping.pcap').packets
    expect(describePacket(broadcast!, { linkHeaders: true })).toBe('0.000000 B from 02:00:0a:0a:0a:02 ARP request who-has 10.10.10.1 tell 10.10.10.2')
  })

  test('times are relative to the origin given', () => {
    const packets = fixture('ethernet-arp-unanswered.pcap').packets
    expect(describePacket(packets[2]!, { origin: packets[1]!.timestamp })).toMatch(/^1\.020001 ARP/)
    expect(formatRelativeTime(packets[0]!.timestamp, packets[1]!.timestamp, 'microsecond')).toBe('-1.035967')
  })

  test('protocols the decoder does not look into are named with their size', () => {
    // tcpdump -n -e: "lo In ifindex 1 00:00:00:00:00:00 ethertype IPv6 (0x86dd), length 124: ::1 > ::1: ICMP6, echo request"
    expect(describeCapture(fixture('sll2-loopback-ipv6.pcap'), { interfaceNames: new Map([[1, 'lo']]) })).toEqual([
      '0.000000 lo In IP 127.0.0.1 > 127.0.0.1 ttl 64 ICMP echo request id 20222 seq 1',
      '0.000014 lo In IP 127.0.0.1 > 127.0.0.1 ttl 64 ICMP echo reply id 20222 seq 1',
      '0.008519 lo In ethertype 0x86dd (IPv6), 104 bytes',
      '0.008532 lo In ethertype 0x86dd (IPv6), 104 bytes',
    ])
  })

  test('tcpFlagLetters follows tcpdump: F S R P . U E W', () => {
    const none = { fin: false, syn: false, rst: false, psh: false, ack: false, urg: false, ece: false, cwr: false }
    expect(tcpFlagLetters(none)).toBe('none')
    expect(tcpFlagLetters({ ...none, rst: true, ack: true })).toBe('R.')
    expect(tcpFlagLetters({ ...none, syn: true, ece: true, cwr: true })).toBe('SEW')
  })
})
