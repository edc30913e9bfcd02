// iptables rules compared by meaning. A rule as `iptables -S` prints it (or as a lab writes it,
// with -A or -I) is parsed into its matches and its target; two spellings of one rule normalise
// to one text (long options, option order, CIDR normal form, protocol numbers, comments). And a
// chain is evaluated against a flow of the lab (source, destination, protocol, interfaces,
// connection state), as the kernel would walk it: the first rule that matches decides, jumps to
// user chains are followed. A match labproof does not evaluate makes the verdict undecidable,
// said so, never guessed.

export interface RuleMatch {
  option: string
  negate: boolean
  value: string
}

export interface ParsedRule {
  chain: string
  /** The matches labproof evaluates: -s -d -i -o -p, --state/--ctstate. */
  matches: RuleMatch[]
  /** Options labproof does not evaluate (`--dport 80`, `-m mark --mark 1`), as written. */
  unknown: string[]
  target?: string
  /** The target's options, e.g. `--to-source 192.168.17.10`. */
  targetArgs: string[]
  /** As given. */
  text: string
}

const ALIASES: Record<string, string> = {
  '--source': '-s', '--src': '-s', '--destination': '-d', '--dst': '-d',
  '--in-interface': '-i', '--out-interface': '-o', '--protocol': '-p', '--jump': '-j', '--goto': '-g',
  '--append': '-A', '--insert': '-I',
}
const PROTOCOLS: Record<string, string> = { '1': 'icmp', '6': 'tcp', '17': 'udp' }
const STATE_OPTIONS = new Set(['--state', '--ctstate'])
/** Module options that say nothing about which packets match. */
const IGNORED_MODULE_OPTIONS = new Set(['--comment'])
const NON_TERMINATING = new Set(['LOG', 'NFLOG', 'MARK', 'CONNMARK', 'TRACE', 'CT', 'NOTRACK', 'TCPMSS', 'CLASSIFY', 'TOS', 'DSCP', 'TTL', 'AUDIT'])

/** Words as a shell (and iptables -S's quoting) would split them. */
export function splitWords(text: string): string[] {
  const words: string[] = []
  let word = ''
  let quote = ''
  let inWord = false
  for (const c of text) {
    if (quote) {
      if (c === quote) quote = ''
      else word += c
    } else if (c === '"' || c === "'") {
      quote = c
      inWord = true
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word)
      word = ''
      inWord = false
    } else {
      word += c
      inWord = true
    }
  }
  if (inWord) words.push(word)
  return words
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`"${ip}" is not an IPv4 address`)
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

function prefixOfMask(mask: string): number {
  const n = ipToInt(mask)
  const prefix = 32 - Math.log2((~n >>> 0) + 1)
  if (!Number.isInteger(prefix)) throw new Error(`"${mask}" is not a network mask`)
  return prefix
}

/** `192.168.28.7/24` → `192.168.28.0/24`, `10.0.0.1` → `10.0.0.1/32`, masks as prefixes. */
export function normalCidr(text: string): string {
  const [addr, suffix] = text.split('/') as [string, string | undefined]
  const prefix = suffix === undefined ? 32 : suffix.includes('.') ? prefixOfMask(suffix) : Number(suffix)
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`"${text}" has no valid prefix`)
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
  return `${intToIp((ipToInt(addr) & mask) >>> 0)}/${prefix}`
}

export function cidrContains(cidr: string, ip: string): boolean {
  const [net, prefix] = normalCidr(cidr).split('/') as [string, string]
  const p = Number(prefix)
  const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0
  return ((ipToInt(ip) & mask) >>> 0) === ipToInt(net)
}

/** A rule line: `-A POSTROUTING -s 192.168.28.0/24 -j MASQUERADE`, `-I FORWARD 1 …`, or the
 *  part after the chain (then `chain` names it). `iptables -t nat` in front is passed over. */
export function parseRule(text: string, chain = ''): ParsedRule {
  const words = splitWords(text.replace(/^\s*iptables\s+/, ''))
  const rule: ParsedRule = { chain, matches: [], unknown: [], targetArgs: [], text: text.trim() }
  let negate = false
  let module = ''
  for (let i = 0; i < words.length; i++) {
    const raw = words[i]!
    const w = ALIASES[raw] ?? raw
    const next = () => {
      const v = words[++i]
      if (v === undefined) throw new Error(`${raw} needs a value in "${text}"`)
      return v
    }
    if (w === '!') { negate = true; continue }
    if (w === '-t') { next(); continue }
    if (w === '-A' || w === '-I') {
      rule.chain = next()
      if (w === '-I' && /^\d+$/.test(words[i + 1] ?? '')) i++
      continue
    }
    if (w === '-j' || w === '-g') {
      rule.target = next()
      rule.targetArgs = words.slice(i + 1)
      break
    }
    if (w === '-s' || w === '-d') {
      // iptables accepts a list: -s a,b is two rules; one is what labs write.
      rule.matches.push({ option: w, negate, value: normalCidr(next()) })
    } else if (w === '-i' || w === '-o') {
      rule.matches.push({ option: w, negate, value: next() })
    } else if (w === '-p') {
      const p = next().toLowerCase()
      if (p !== 'all' && p !== '0') rule.matches.push({ option: '-p', negate, value: PROTOCOLS[p] ?? p })
    } else if (w === '-m') {
      module = next()
    } else if (STATE_OPTIONS.has(w)) {
      rule.matches.push({ option: '--state', negate, value: next().split(',').sort().join(',') })
    } else if (IGNORED_MODULE_OPTIONS.has(w)) {
      next()
    } else if (w.startsWith('-')) {
      // Anything else, with its values up to the next option: kept, not evaluated.
      const values: string[] = []
      while (words[i + 1] !== undefined && !words[i + 1]!.startsWith('-') && words[i + 1] !== '!') values.push(words[++i]!)
      rule.unknown.push([negate ? '!' : '', module && !['tcp', 'udp', 'icmp'].includes(module) ? `-m ${module}` : '', w, ...values].filter(Boolean).join(' '))
    } else {
      throw new Error(`cannot read "${raw}" in the rule "${text}"`)
    }
    negate = false
  }
  return rule
}

/** One text for every spelling of a rule (without its chain): matches sorted, then the target. */
export function normalRuleText(r: ParsedRule): string {
  const matches = [
    ...r.matches.map((m) => `${m.negate ? '! ' : ''}${m.option} ${m.option === '--state' ? `(state) ${m.value}` : m.value}`),
    ...r.unknown,
  ].sort()
  return [...matches, r.target ? `-j ${r.target}` : '', ...r.targetArgs].filter(Boolean).join(' ')
}

export function normalRule(text: string, chain = ''): string {
  return normalRuleText(parseRule(text, chain))
}

/** An interface a flow uses: a name, or the machine's way out (its default route), whose name
 *  a student's machine chooses. */
export type FlowInterface = { name: string } | { uplink: true; name?: string }

export interface Flow {
  /** For hints: `ns1 (192.168.28.1) → 8.8.8.8`. */
  label: string
  src: string
  dst: string
  proto: 'icmp' | 'tcp' | 'udp'
  in?: FlowInterface
  out?: FlowInterface
  state: 'NEW' | 'ESTABLISHED'
}

export interface Verdict {
  /** ACCEPT, DROP, MASQUERADE, …; `policy` tells whether the chain's policy decided. */
  target?: string
  targetArgs?: string[]
  /** The rule that decided, as iptables -S prints it; absent when the policy did. */
  rule?: string
  policy?: boolean
  /** Set when a rule the flow reaches uses a match labproof does not evaluate. */
  undecidable?: string
}

export interface Chains {
  policies: Map<string, string>
  rules: Map<string, ParsedRule[]>
}

/** `iptables -t T -S` output as chains and their rules. */
export function parseListing(listing: string): Chains {
  const chains: Chains = { policies: new Map(), rules: new Map() }
  for (const line of listing.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const [op, chain, policy] = line.split(/\s+/)
    if (op === '-P' && chain && policy) {
      chains.policies.set(chain, policy)
      if (!chains.rules.has(chain)) chains.rules.set(chain, [])
    } else if (op === '-N' && chain) {
      if (!chains.rules.has(chain)) chains.rules.set(chain, [])
    } else if (op === '-A' && chain) {
      const list = chains.rules.get(chain) ?? []
      list.push(parseRule(line))
      chains.rules.set(chain, list)
    }
  }
  return chains
}

function ifaceMatches(pattern: string, iface: FlowInterface | undefined, labInterfaces: Set<string>): boolean {
  const test = (name: string) => (pattern.endsWith('+') ? name.startsWith(pattern.slice(0, -1)) : name === pattern)
  if (!iface) return false
  if ('uplink' in iface && iface.name === undefined) {
    // The way out of a machine whose default route is not known: any interface the lab does not use.
    return ![...labInterfaces].some(test)
  }
  return test(iface.name!)
}

type Tri = 'yes' | 'no' | 'unknown'

export function ruleMatches(r: ParsedRule, f: Flow, labInterfaces: Set<string>): Tri {
  for (const m of r.matches) {
    let hit: boolean
    switch (m.option) {
      case '-s': hit = cidrContains(m.value, f.src); break
      case '-d': hit = cidrContains(m.value, f.dst); break
      case '-i': hit = ifaceMatches(m.value, f.in, labInterfaces); break
      case '-o': hit = ifaceMatches(m.value, f.out, labInterfaces); break
      case '-p': hit = m.value === f.proto; break
      case '--state': hit = m.value.split(',').includes(f.state); break
      default: return 'unknown'
    }
    if (hit === m.negate) return 'no'
  }
  return r.unknown.length ? 'unknown' : 'yes'
}

/** Where a flow ends in a chain, as the kernel walks it. */
export function evaluateChain(chains: Chains, chain: string, f: Flow, labInterfaces: Set<string>, depth = 0): Verdict {
  if (depth > 20) return { undecidable: `chain ${chain} jumps too deep (a loop?)` }
  for (const r of chains.rules.get(chain) ?? []) {
    const m = ruleMatches(r, f, labInterfaces)
    if (m === 'no') continue
    const line = `-A ${chain} ${normalRuleText(r)}`
    if (m === 'unknown') return { undecidable: `\`${r.text}\` uses ${r.unknown.join(', ')}, which labproof does not evaluate` }
    if (!r.target || NON_TERMINATING.has(r.target)) continue
    if (chains.rules.has(r.target) && !chains.policies.has(r.target)) {
      const inner = evaluateChain(chains, r.target, f, labInterfaces, depth + 1)
      if (inner.undecidable || (inner.target && inner.target !== 'RETURN')) return inner
      continue
    }
    if (r.target === 'RETURN') return depth > 0 ? { target: 'RETURN', rule: line } : { target: chains.policies.get(chain) ?? 'ACCEPT', policy: true }
    return { target: r.target, targetArgs: r.targetArgs, rule: r.text }
  }
  if (depth > 0) return {}
  return { target: chains.policies.get(chain) ?? 'ACCEPT', policy: true }
}

export function sameVerdict(a: Verdict, b: Verdict): boolean {
  return !a.undecidable && !b.undecidable && a.target === b.target && (a.targetArgs ?? []).join(' ') === (b.targetArgs ?? []).join(' ')
}

export function describeVerdict(v: Verdict, chain: string): string {
  if (v.undecidable) return `labproof cannot tell what ${chain} does with it: ${v.undecidable}`
  if (v.policy) return `no rule of ${chain} matches it, so the policy (${v.target}) applies`
  return `it is taken by \`${v.rule}\``
}
