// Which machine a post means, and what its underlay looks like: labels in prose ("在节点A上",
// "Host 02", "node1", "主机1", "the second machine"), machine names in prompts, the underlay
// interface and addresses the post shows, so its commands can run as written.

export type HostName = 'host01' | 'host02'

/** The machines a line of prose or a comment names, in the order it names them. */
export function hostLabels(text: string): HostName[] {
  const found: { at: number; host: HostName }[] = []
  const add = (at: number, which: string) => {
    const host = /^(0*1|a|one|first|一)$/i.test(which) ? 'host01' : 'host02'
    found.push({ at, host })
  }
  const patterns: RegExp[] = [
    /(?:\bhost|\bnode|\bserver|\bmachine|\bvm|主机|节点|机器|服务器|虚拟机)\s*[-_]?\s*(0*[1-9])(?![\d.])/gi,
    /(?:\bhost|\bnode|\bserver|\bmachine|节点|主机|机器|服务器)\s*([AB])(?![\w])/g,
    /(?<![\w])([AB])\s*(?:节点|主机|机器|服务器|\bnode\b|\bhost\b|\bmachine\b)/g,
    /\b(first|second)\s+(?:host|node|machine|server|vm)\b/gi,
    /第([一二])台/g,
    /\b(remote|other|second|peer) (?:host|node|machine|server)\b|(另一台)/gi,
  ]
  for (const re of patterns) for (const m of text.matchAll(re)) add(m.index ?? 0, (m[1] ?? m[2]!).replace(/^二$/, '2'))
  return found.sort((a, b) => a.at - b.at).map((f) => f.host)
}

/** Prompt machine names to lab hosts: names ending in 1 and 2 say which; others take the next
 *  free host in order of appearance. */
export class PromptHosts {
  private readonly byName = new Map<string, HostName>()

  hostFor(name: string): { host: HostName; guessed: boolean } {
    const known = this.byName.get(name)
    if (known) return { host: known, guessed: false }
    const digit = /(?:^|\D)0*([12])$/.exec(name)?.[1]
    const taken = new Set(this.byName.values())
    const host: HostName = digit === '1' ? 'host01' : digit === '2' ? 'host02' : !taken.has('host01') ? 'host01' : 'host02'
    this.byName.set(name, host)
    return { host, guessed: !digit && taken.size > 0 }
  }

  /** A shell opened inside a host shows its own name: the same host. */
  alias(name: string, host: HostName): void {
    if (!this.byName.has(name)) this.byName.set(name, host)
  }
}

const IPV4 = String.raw`(?:\d{1,3}\.){3}\d{1,3}`
const UNDERLAY_NIC = /\b(eth\d+|ens\d+|enp\d+s\d+\w*|eno\d+)\b/g

/** The post's physical interface: the NIC name it mentions most (ens33, eth0, ens160). */
export function underlayInterface(text: string): { name: string; line: number } | undefined {
  const counts = new Map<string, { count: number; line: number }>()
  text.split('\n').forEach((l, i) => {
    for (const m of l.matchAll(UNDERLAY_NIC)) {
      const c = counts.get(m[1]!) ?? { count: 0, line: i + 1 }
      c.count++
      counts.set(m[1]!, c)
    }
  })
  const best = [...counts.entries()].sort((a, b) => b[1].count - a[1].count)[0]
  return best ? { name: best[0], line: best[1].line } : undefined
}

export interface AddressClue {
  host: HostName
  address: string
  /** Prefix length when the post gives one (a /24 or a netmask). */
  prefix?: number
  line: number
  why: string
}

/** Addresses a line of prose gives the machines: "机器 A、B 分别是 X、Y", "我的主机地址是X",
 *  "Host 01 … 192.168.21.11/24". */
export function proseAddresses(text: string, line: number): AddressClue[] {
  const addresses = [...text.matchAll(new RegExp(`(${IPV4})(?:/(\\d{1,2}))?`, 'g'))]
    .filter((m) => !new RegExp(`(网关|gateway|gw|via|下一跳)\\D{0,6}$`, 'i').test(text.slice(0, m.index)))
  if (addresses.length === 0) return []
  const labels = hostLabels(text)
  const clue = (host: HostName, m: RegExpMatchArray, why: string): AddressClue => ({ host, address: m[1]!, prefix: m[2] ? Number(m[2]) : undefined, line, why })
  if (labels.length >= 2 && labels.length === addresses.length) return labels.map((h, i) => clue(h, addresses[i]!, 'the post names the machines and their addresses in this order'))
  if (labels.length === 1 && addresses.length === 1) return [clue(labels[0]!, addresses[0]!, 'the post gives this machine this address')]
  if (labels.length === 0 && addresses.length === 1 && /(本机|主机|宿主机|虚拟机|my host|the host|host address|host ip|server)\s*(的)?\s*(ip|地址|address)?\s*(是|为|:|：|is)/i.test(text)) {
    return [clue('host01', addresses[0]!, 'the post gives its machine this address')]
  }
  return []
}

/** The gateway a line gives: "网关是192.168.123.1", "gateway 10.0.0.1", a default route row. */
export function gatewayClue(text: string): string | undefined {
  return new RegExp(`(?:网关|gateway)\\s*(?:是|为|is|:|：)?\\s*(${IPV4})`, 'i').exec(text)?.[1]
    ?? new RegExp(`^\\s*0\\.0\\.0\\.0\\s+(${IPV4})\\s+0\\.0\\.0\\.0\\s+UG`).exec(text)?.[1]
    ?? new RegExp(`^\\s*default via (${IPV4})`).exec(text)?.[1]
}

/** An interface's address in what `ifconfig` or `ip addr` printed. */
export function shownAddress(outputLines: string[], nic: string): { address: string; prefix: number } | undefined {
  let inBlock = false
  for (const l of outputLines) {
    const header = /^(?:\d+:\s*)?([\w.@-]+?)(?:@\w+)?:\s/.exec(l)
    if (header) inBlock = header[1] === nic
    if (!inBlock) continue
    const ifconfig = new RegExp(`inet (${IPV4})\\s+netmask (${IPV4})`).exec(l)
    if (ifconfig) return { address: ifconfig[1]!, prefix: maskLength(ifconfig[2]!) }
    const ip = new RegExp(`inet (${IPV4})/(\\d+)`).exec(l)
    if (ip) return { address: ip[1]!, prefix: Number(ip[2]) }
  }
  return undefined
}

function maskLength(mask: string): number {
  return mask.split('.').map(Number).reduce((n, octet) => n + octet.toString(2).replace(/0/g, '').length, 0)
}
