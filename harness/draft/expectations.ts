// What a post shows a command doing, as a step's `expect`: a ping's replies or failure, and
// for other commands the lines it printed. The post's prose beside a ping ("结果不通", "fails")
// is a claim too, but a weaker one: the draft marks it as a guess.

export interface DraftExpectation {
  output?: string
  reachable?: boolean
  ttl?: number
  exitCode?: 'nonzero' | 'any'
}

export interface ExpectationDraft {
  expect?: DraftExpectation
  notes: string[]
  todos: string[]
}

const PING_FAILURE = /100% packet loss|Network is unreachable|Destination (Host|Net) Unreachable|unknown host|Name or service not known|Temporary failure in name resolution/i
const NEGATIVE_PROSE = /不通|无法\s*ping|ping\s*不|不能\s*ping|ping\s*失败|不可达|unreachable|not reachable|cannot reach|can't reach|can not reach|no reply|no replies|no response|\bfails?\b|\bfailed\b|doesn't work|does not work|timed? ?out/i
const POSITIVE_PROSE = /ping\s*通|可以通(?!过)|能通(?!过)|成功|通了|\bworks\b|\bsucceeds?\b|\breachable\b|\breplies\b|can reach|can ping/i

/** A private address, or one the post's own commands give a device: anything else is the real
 *  internet, which the lab simulates. */
export function isLabAddress(ip: string, assigned: ReadonlySet<string> = new Set()): boolean {
  const [a, b] = ip.split('.').map(Number) as [number, number]
  return assigned.has(ip) || a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254)
}

export function pingDestination(command: string): string | undefined {
  const words = command.split(/\s+/)
  const at = words.findIndex((w) => /^(ping|ping6|arping)$/.test(w))
  const withValue = new Set(['-c', '-i', '-I', '-W', '-w', '-s', '-t', '-m', '-Q', '-M', '-p'])
  for (let i = at + 1; at >= 0 && i < words.length; i++) {
    if (withValue.has(words[i]!)) i++
    else if (!words[i]!.startsWith('-')) return words[i]
  }
  return undefined
}

export interface NearbyProse {
  line: number
  text: string
}

export function pingExpectation(command: string, output: string[], prose: NearbyProse[], assigned: ReadonlySet<string> = new Set()): ExpectationDraft {
  const notes: string[] = []
  const todos: string[] = []
  const ttls = output.map((l) => /bytes from .*\bttl=(\d+)/i.exec(l)?.[1]).filter((t): t is string => Boolean(t)).map(Number)
  const destination = pingDestination(command) ?? ''
  if (ttls.length > 0) {
    const expect: DraftExpectation = { reachable: true }
    if (new Set(ttls).size === 1) {
      if (isLabAddress(destination, assigned) || !/^\d+\.\d+\.\d+\.\d+$/.test(destination)) expect.ttl = ttls[0]
      else todos.push(`the post's ttl=${ttls[0]} came from the real ${destination}; in the lab it is the simulated internet host, two routed hops past the host (ttl 62 from a host's namespace): give the lab's ttl`)
    } else {
      todos.push(`the post's replies carry different TTLs (${[...new Set(ttls)].join(', ')}): which one to claim?`)
    }
    return { expect, notes, todos }
  }
  if (output.some((l) => PING_FAILURE.test(l)) || output.some((l) => /\b0 received\b/.test(l))) {
    return { expect: { reachable: false }, notes: ['the post shows it failing'], todos }
  }
  const negative = prose.find((p) => NEGATIVE_PROSE.test(p.text))
  if (negative) {
    todos.push(`line ${negative.line}: the post says this ping gets no reply (its words, not its output): reachable: false is a guess`)
    return { expect: { reachable: false }, notes, todos }
  }
  const positive = prose.find((p) => POSITIVE_PROSE.test(p.text))
  if (positive) {
    todos.push(`line ${positive.line}: the post says this ping gets replies (its words, not its output): reachable: true is a guess`)
    return { expect: { reachable: true }, notes, todos }
  }
  if (output.length > 0) todos.push('the post shows the ping starting and no reply: does it get one? (add reachable: true or false)')
  return { notes, todos }
}

/** A shell's job notice (`[1] 1489125`) is printed by an interactive shell only. */
const JOB_NOTICE = /^\[\d+\]\s+\d+\s*$/
const ERROR_OUTPUT = /RTNETLINK answers|^Error:|No such file or directory|Cannot find device|command not found|Operation not permitted|Usage:|Invalid argument|does not exist|^usage:|Bad address|unknown|Unknown/

export function outputExpectation(output: string[]): ExpectationDraft {
  const notes: string[] = []
  const todos: string[] = []
  const shown = output.filter((l) => !JOB_NOTICE.test(l))
  if (shown.length < output.length) notes.push(`the post's \`${output.find((l) => JOB_NOTICE.test(l))!.trim()}\` is an interactive shell's job notice: a script's shell prints none`)
  while (shown.length && !shown.at(-1)!.trim()) shown.pop()
  while (shown.length && !shown[0]!.trim()) shown.shift()
  if (shown.length === 0) return { notes, todos }
  const expect: DraftExpectation = { output: shown.map((l) => l.trimEnd()).join('\n') }
  if (shown.some((l) => ERROR_OUTPUT.test(l))) {
    expect.exitCode = 'any'
    todos.push('the post shows an error or a usage message: did the command fail? (exitCode: nonzero, or an erratum)')
  }
  return { expect, notes, todos }
}

/** Commands whose output is the machine's own (a PID, a cgroup path, mount ids, the kernel
 *  release): what the post shows is not what another machine prints. */
export function printsMachineState(command: string): boolean {
  return /\/proc\/(self|\d+|\$\$|\$!)\/(cgroup|mountinfo|status|stat)\b|\becho\s+\$[$!]|\buname\b|(^|[;&|]\s*)(date|uptime|hostname|who|w)\b|\/proc\/uptime/.test(command)
}
