// What a scenario's names and addresses must look like before labproof uses them. Each returns
// what is wrong with a value (for the `file:line:column: field: why` message), or undefined.
// They are refused at load, so a bad value never reaches a lab; the places that put a value in
// a shell command quote it as well.

/** IFNAMSIZ is 16 with the terminating NUL. */
export const MAX_INTERFACE_NAME = 15

/** A Linux interface name: what the kernel accepts (dev_valid_name: 1–15 bytes, not `.` or
 *  `..`, no `/`, `:` or white space), narrowed to the characters labs use (letters, digits,
 *  `_ . -`), so no name needs quoting anywhere. */
export function interfaceNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'an interface name cannot be empty'
  if (Buffer.byteLength(name) > MAX_INTERFACE_NAME) return `"${name}" is ${Buffer.byteLength(name)} bytes; an interface name has at most ${MAX_INTERFACE_NAME} (IFNAMSIZ)`
  if (name === '.' || name === '..') return `"${name}" is not an interface name`
  const bad = /[^A-Za-z0-9_.-]/.exec(name)
  if (bad) return `${describeChar(bad[0])} is not allowed in an interface name (letters, digits, "_", "." and "-")`
  return undefined
}

/** A network namespace name for `ip netns` (a file in /run/netns), in the same safe characters. */
export function namespaceNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'a namespace name cannot be empty'
  if (name.length > 64) return `"${name.slice(0, 20)}…" is ${name.length} characters; labproof takes namespace names of at most 64`
  if (name === '.' || name === '..') return `"${name}" is not a namespace name`
  const bad = /[^A-Za-z0-9_.-]/.exec(name)
  if (bad) return `${describeChar(bad[0])} is not allowed in a namespace name (letters, digits, "_", "." and "-")`
  return undefined
}

/** A host name (RFC 1123): labels of letters, digits and `-`, not starting or ending with `-`,
 *  each 1–63 characters, separated by dots; at most 63 characters in all. */
export function hostnameProblem(name: string): string | undefined {
  if (name.length === 0) return 'a host name cannot be empty'
  if (name.length > 63) return `"${name.slice(0, 20)}…" is ${name.length} characters; a host name has at most 63`
  const bad = /[^A-Za-z0-9.-]/.exec(name)
  if (bad) return `${describeChar(bad[0])} is not allowed in a host name (RFC 1123: letters, digits, "-" and dots between labels)`
  for (const label of name.split('.')) {
    if (label.length === 0) return `"${name}" has an empty label (two dots, or a dot at an end)`
    if (label.startsWith('-') || label.endsWith('-')) return `the label "${label}" of "${name}" starts or ends with "-" (RFC 1123)`
  }
  return undefined
}

/** A dotted-quad IPv4 address: four numbers 0–255, without leading zeros (which some tools
 *  read as octal). */
export function ipv4Problem(address: string): string | undefined {
  const parts = address.split('.')
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p))) return `an IPv4 address like 10.10.20.2, not "${address}"`
  const big = parts.find((p) => Number(p) > 255)
  if (big) return `"${address}" is not an IPv4 address: ${big} is more than 255`
  const padded = parts.find((p) => p.length > 1 && p.startsWith('0'))
  if (padded) return `"${address}": write ${Number(padded)}, not ${padded} (a leading zero is octal to some tools)`
  return undefined
}

export function ipv4ToInt(address: string): number {
  const p = address.split('.').map(Number)
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0
}

function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

/** `address/prefix`. `as: 'interface'` (an address set on an interface): not the network's own
 *  address nor its broadcast (prefixes up to /30). `as: 'network'` (a route's destination): no
 *  host bits set, which `ip route` would not show as written. */
export function cidrProblem(value: string, as: 'interface' | 'network'): string | undefined {
  const m = /^([^/]*)\/(\d{1,2})$/.exec(value)
  if (!m) return `an address with prefix like 192.168.21.11/24, not "${value}"`
  const [, address, prefixText] = m as unknown as [string, string, string]
  const wrong = ipv4Problem(address)
  if (wrong) return wrong
  const prefix = Number(prefixText)
  if (prefix > 32) return `"${value}": a prefix is 0 to 32, not ${prefix}`
  const n = ipv4ToInt(address)
  const network = (n & mask(prefix)) >>> 0
  if (as === 'network' && network !== n) {
    return `"${value}" has host bits set; the network is ${intToIpv4(network)}/${prefix}`
  }
  if (as === 'interface' && prefix <= 30) {
    if (n === network) return `"${value}" is the network's own address; a host needs one of ${intToIpv4(network + 1)}–${intToIpv4(network + 2 ** (32 - prefix) - 2)}`
    if (n === network + 2 ** (32 - prefix) - 1) return `"${value}" is the network's broadcast address; a host needs one of ${intToIpv4(network + 1)}–${intToIpv4(network + 2 ** (32 - prefix) - 2)}`
  }
  return undefined
}

/** Is `address` inside `cidr`'s network. */
export function inSubnet(address: string, cidr: string): boolean {
  const [net, prefix] = cidr.split('/') as [string, string]
  const m = mask(Number(prefix))
  return ((ipv4ToInt(address) & m) >>> 0) === ((ipv4ToInt(net) & m) >>> 0)
}

/** `host[/namespace]:interface` (interface `any` for all), for captures and wire claims. */
export function capturePointProblem(point: string): string | undefined {
  const m = /^([^/:]+)(?:\/([^:]*))?:(.*)$/.exec(point)
  if (!m) return `"${point}" is not a capture point like host01:ens33 or host01/ns1:v1 (host[/namespace]:interface)`
  const [, , namespace, iface] = m as unknown as [string, string, string | undefined, string]
  if (namespace !== undefined) {
    const p = namespaceNameProblem(namespace)
    if (p) return p
  }
  return iface === 'any' ? undefined : interfaceNameProblem(iface)
}

/** NUL and the other control characters, which a shell drops or misreads, in a command; tab and
 *  newline are fine. Where the first one is, as line and column of the command's text. */
export function controlCharacterProblem(command: string): string | undefined {
  const bad = /[\u0000-\u0008\u000b-\u001f\u007f]/.exec(command)
  if (!bad) return undefined
  const before = command.slice(0, bad.index)
  const line = before.split('\n').length
  const column = bad.index - before.lastIndexOf('\n')
  return `${describeChar(bad[0])} at line ${line}, column ${column} of the command: control characters are not run (write them as the command would, e.g. printf '\\000')`
}

function describeChar(c: string): string {
  const code = c.codePointAt(0)!
  if (code < 0x20 || code === 0x7f) {
    const names: Record<number, string> = { 0: 'NUL', 9: 'TAB', 10: 'newline', 13: 'carriage return', 27: 'ESC', 127: 'DEL' }
    return `the control character U+${code.toString(16).toUpperCase().padStart(4, '0')}${names[code] ? ` (${names[code]})` : ''}`
  }
  return c === ' ' ? 'a space' : `"${c}"`
}
