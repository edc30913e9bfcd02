// The wiring's ip commands as rtnetlink requests (harness/backends/shared/netlink.ts): byte for
// byte what iproute2 sent for them (test/fixtures/netlink/ip-requests.json, captured with strace),
// once the values known only where they are sent (an interface's index, a namespace's descriptor)
// are in.
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { linkLookup, netlinkRequest, type NetlinkRequest } from '../../harness/backends/shared/netlink.ts'

const captured: Record<string, string> = JSON.parse(readFileSync(new URL('../fixtures/netlink/ip-requests.json', import.meta.url), 'utf8'))
/** The indexes the interfaces had in the capture, and ip's descriptor of the namespace its veth
 *  peer went to by path. */
const indexes: Record<string, number> = { underlay: 2, 'port-host01': 3 }
const netnsFds: Record<string, number> = { host01: 4 }

/** The message as the sender sends it: each patch written in (lookups answered from `indexes`). */
function sent(r: NetlinkRequest): Buffer {
  const m = Buffer.from(r.message)
  for (const p of r.patches) {
    const value = 'netns' in p ? netnsFds[p.netns]! : indexes[lookedUp(p.lookup)]!
    expect(value, `${r.command}: a value for the patch at ${p.offset}`).toBeDefined()
    m.writeUInt32LE(value, p.offset)
  }
  return m
}

/** The interface name an RTM_GETLINK request asks for (its IFLA_IFNAME, NUL-terminated). */
function lookedUp(request: Buffer): string {
  expect(request.readUInt16LE(4)).toBe(18) // RTM_GETLINK
  expect(request.readUInt16LE(32 + 2)).toBe(3) // IFLA_IFNAME, after the header and ifinfomsg
  return request.subarray(36, 32 + request.readUInt16LE(32) - 1).toString()
}

/** Without ip's sequence number (bytes 8-11, a time stamp). */
const withoutSeq = (hex: string) => hex.slice(0, 16) + hex.slice(24)

describe('the wiring\'s requests are the ones ip sends', () => {
  test.each([
    ['link add underlay type bridge', 'link add underlay type bridge'],
    ['link add port-host02 type veth peer name ens34 netns node:host01', 'link add port-host02 type veth peer name ens34 netns /proc/28136/ns/net'],
    ['link add port-host01 type veth peer name ens33 netns 4050', 'link add port-host01 type veth peer name ens33 netns 4050'],
    ['link set port-host01 master underlay up', 'link set port-host01 master underlay up'],
    ['link set underlay up', 'link set underlay up'],
    ['addr add 192.168.21.1/24 brd + dev underlay', 'addr add 192.168.21.1/24 brd + dev underlay'],
    ['addr add 100.64.0.1/30 dev underlay', 'addr add 100.64.0.1/30 dev underlay'],
    ['route add 8.8.8.8/32 via 100.64.0.2', 'route add 8.8.8.8/32 via 100.64.0.2'],
    ['route add default via 192.168.21.5', 'route add default via 192.168.21.5'],
    ['route add 10.1.0.0/16 via 192.168.21.5', 'route add 10.1.0.0/16 via 192.168.21.5'],
  ])('ip %s', (command, as) => {
    expect(captured[as], `no capture of ip ${as}`).toBeDefined()
    expect(withoutSeq(sent(netlinkRequest(command.split(' '))).toString('hex'))).toBe(withoutSeq(captured[as]!))
  })

  test('a lookup asks for the interface by name', () => {
    expect(lookedUp(linkLookup('ens33'))).toBe('ens33')
  })

  test('a command the wiring does not use, or a malformed value, is refused', () => {
    expect(() => netlinkRequest(['link', 'del', 'x'])).toThrow(/ip link del x: not a command the wiring sends by netlink/)
    expect(() => netlinkRequest(['link', 'add', 'p', 'type', 'veth', 'peer', 'name', 'q', 'netns', 'ns1'])).toThrow(/not a command/)
    expect(() => netlinkRequest(['addr', 'add', '10.0.0.300/24', 'dev', 'x'])).toThrow(/"10.0.0.300" is not an IPv4 address/)
    expect(() => netlinkRequest(['route', 'add', '10.0.0.0/33', 'via', '10.0.0.1'])).toThrow(/no valid prefix length/)
  })
})
