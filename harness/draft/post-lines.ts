// What each line of a post is: a command (behind a prompt, or a bare command line of a known lab
// tool), a heading, prose, a comment, or something a command printed. Posts come as Markdown
// with code fences or as text scraped from a web page, where nothing marks the code.
import { GLUE_JUNCTION, isTitleCaseHeading } from '../parse/glued-heading.ts'

export interface PostLine {
  /** 1-based line number in the post. */
  n: number
  text: string
  /** Inside a Markdown code fence. */
  fenced: boolean
}

export type LineKind =
  | { kind: 'blank' }
  | { kind: 'fence' }
  | { kind: 'heading'; title: string }
  /** `prompted`: typed behind a prompt (`$ `, `[root@node1 ~]# `), not found as a bare line. */
  | { kind: 'command'; command: string; prompt?: Prompt; prompted?: boolean }
  /** A prompt with nothing typed after it: a shell showing it is ready (`root@moelove:~#`). */
  | { kind: 'prompt-only'; prompt: Prompt }
  | { kind: 'comment'; text: string }
  | { kind: 'prose' }
  /** Anything else: what a command printed, a table, a figure's caption. */
  | { kind: 'other' }

export interface Prompt {
  /** The machine the prompt names (`node1` in `[root@node1 ~]#`), when it names one. */
  host?: string
  user?: string
}

export function postLines(text: string): PostLine[] {
  const lines = text.replace(/\u00a0/g, ' ').replace(/\r\n?/g, '\n').split('\n')
  let fenced = false
  return lines.map((line, i) => {
    const isFence = /^\s*(```|~~~)/.test(line)
    const inside = fenced || isFence
    if (isFence) fenced = !fenced
    return { n: i + 1, text: line, fenced: inside }
  })
}

const CJK = /[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]/

/** Prompts: `[root@node1 ~]# `, `[root@node1 ~] `, `root@host:~# `, `user@host:~/dir$ `, `$ `, `# `. */
const PROMPTS: { re: RegExp; strict: boolean }[] = [
  { re: /^\s*\[(?<user>[\w.-]+)@(?<host>[\w.-]+)[^\]]*\]\s*[#$%]?\s?(?<cmd>.*)$/, strict: false },
  { re: /^\s*(?<user>[\w.-]+)@(?<host>[\w.-]+):[^\s#$]*\s*[#$%]\s?(?<cmd>.*)$/, strict: false },
  { re: /^\s*(?<user>[\w.-]+)@(?<host>[\w.-]+)\s*[#$%]\s?(?<cmd>.*)$/, strict: false },
  { re: /^\s*\$\s+(?<cmd>.*)$/, strict: false },
  // `host1$ ip link`, `host1$sudo ip link`: a bare machine name before the prompt sign.
  { re: /^\s*(?<host>[A-Za-z][\w.-]*)[$#]\s?(?<cmd>\S.*)$/, strict: true },
  // `# ` is also how a comment starts: a command only when it is a known lab tool's.
  { re: /^\s*#\s+(?<cmd>.*)$/, strict: true },
]

/** Lab tools whose command lines are taken from scraped text with no prompt before them. */
const IP_OBJECTS = new Set(['link', 'l', 'address', 'addr', 'a', 'route', 'r', 'ro', 'neigh', 'neighbor', 'neighbour', 'n', 'netns', 'tunnel', 'tun', 'tuntap', 'rule', 'ru', 'maddr', 'monitor', 'xfrm', 'mroute', 'ntable', 'l2tp', 'fou', 'macsec', 'vrf', 'nexthop', 'nh', 'mptcp', 'netconf', 'help', 'token', 'tcp_metrics'])
const TOOLS: Record<string, (args: string[]) => boolean> = {
  ip: (a) => {
    let i = 0
    while (a[i]?.startsWith('-')) i += ['-n', '-netns', '-f', '-family', '-b', '-batch', '-rc', '-l', '-loops'].includes(a[i]!) ? 2 : 1
    return a[i] === undefined ? false : IP_OBJECTS.has(a[i]!)
  },
  bridge: (a) => ['link', 'fdb', 'mdb', 'vlan', 'monitor', '-d', '-s', '-j', '-c'].includes(a[0] ?? ''),
  brctl: (a) => /^(addbr|delbr|addif|delif|show|showmacs|showstp|stp|setageing|setfd|sethello|setmaxage|setpathcost|setportprio|setbridgeprio)$/.test(a[0] ?? ''),
  iptables: (a) => a.length > 0 && a[0]!.startsWith('-'),
  ip6tables: (a) => a.length > 0 && a[0]!.startsWith('-'),
  'iptables-save': (a) => a.every((x) => x.startsWith('-') || /^[<>]$/.test(x) || /^[\w./-]+$/.test(x)),
  'iptables-restore': (a) => a.every((x) => x.startsWith('-') || /^[<>]$/.test(x) || /^[\w./-]+$/.test(x)),
  nft: (a) => /^(list|add|delete|flush|-\w+|insert|create)$/.test(a[0] ?? ''),
  ping: pingLike,
  ping6: pingLike,
  arping: pingLike,
  traceroute: pingLike,
  tracepath: pingLike,
  route: (a) => a.length === 0 || /^(-\w+|add|del|delete|flush)$/.test(a[0]!),
  ifconfig: (a) => a.length <= 8 && a.every((x) => /^[\w.:/@-]+$/.test(x)),
  arp: (a) => a.length <= 4 && a.every((x) => /^[-\w.:]+$/.test(x)),
  sysctl: (a) => a.length > 0 && a.every((x) => x.startsWith('-') || /^[\w.\/-]+(=\S*)?$/.test(x)),
  tcpdump: (a) => a.length === 0 || a[0]!.startsWith('-'),
  // `telnet 127.0.0.1 25`: whether a port answers, a lab check of its own.
  telnet: (a) => a.length >= 1 && a.length <= 2 && /^[\w.:-]+$/.test(a[0]!) && (a[1] === undefined || /^\d+$/.test(a[1])),
  modprobe: (a) => a.length >= 1 && a.length <= 3 && a.every((x) => /^[-\w]+$/.test(x)),
  rmmod: (a) => a.length >= 1 && a.length <= 2 && a.every((x) => /^[-\w]+$/.test(x)),
  lsmod: () => true,
  unshare: (a) => a.length > 0 && a[0]!.startsWith('-'),
  nsenter: (a) => a.length > 0 && a[0]!.startsWith('-'),
  ethtool: (a) => a.length > 0 && a.length <= 4,
  ss: (a) => a.every((x) => x.startsWith('-') || /^[\w:.]+$/.test(x)),
  netstat: (a) => a.every((x) => x.startsWith('-')),
  conntrack: (a) => a.length > 0 && a[0]!.startsWith('-'),
  tc: (a) => /^(qdisc|class|filter|-s|-d)$/.test(a[0] ?? ''),
  // echo and cat only where lab posts use them: the kernel's switches under /proc and /sys.
  echo: (a) => a.some((x) => /^\/(proc|sys)\//.test(x) || /^>+\/(proc|sys)\//.test(x)),
  cat: (a) => a.length > 0 && a.every((x) => /^\/(proc|sys|etc|var\/run|run)\//.test(x) || x === '|' || /^grep$|^[\w-]+$/.test(x)) && /^\/(proc|sys)\//.test(a[0]!),
}

function pingLike(a: string[]): boolean {
  // Options with their values, and one destination: a sentence has more words than that.
  const withValue = new Set(['-c', '-i', '-I', '-W', '-w', '-s', '-t', '-m', '-Q', '-M', '-p'])
  let destinations = 0
  for (let i = 0; i < a.length; i++) {
    if (withValue.has(a[i]!)) i++
    else if (a[i]!.startsWith('-')) continue
    else if (/^[\w.:-]+$/.test(a[i]!)) destinations++
    else return false
  }
  return destinations === 1
}

/** The program a command line starts with, past `sudo` and variable assignments. */
export function programOf(command: string): { program: string; args: string[] } {
  const words = command.trim().split(/\s+/)
  let i = 0
  while (words[i] === 'sudo' || /^[A-Za-z_]\w*=\S*$/.test(words[i] ?? '')) i++
  return { program: words[i] ?? '', args: words.slice(i + 1) }
}

/** The command part of a line: a list bullet before it and a shell comment after it removed. */
function commandPart(text: string): string {
  return text
    .replace(/^\s*(?:[•·]|[-*+](?=\s)|\d+[.)](?=\s))\s*/, '')
    .replace(/\s+#.*$/, '')
    .trim()
}

/** Syntax summaries are not commands: `ip netns add <ns>`, `ip netns exec [NAME] cmd ...`. */
function isPlaceholder(command: string, program: string, args: string[]): boolean {
  if (/<[\w\s-]+>|\[[A-Z-][\w-]*\]|\.\.\.|…/.test(command)) return true
  return program === 'ip' && args.some((a) => /^[A-Z][A-Z_]{2,}$/.test(a))
}

/** A line a reader would type: a known lab tool's command line, with no prose in it. `bare`: no
 *  prompt or code block says so, so `ip netns` alone (a word in a sentence broken over lines) is
 *  not taken. */
export function isLabCommand(text: string, bare = false): boolean {
  const command = commandPart(text)
  if (!command || CJK.test(command)) return false
  if (/[。，；：！？]$|[.!?]$/.test(command) && command.split(/\s+/).length > 4) return false
  const { program, args } = programOf(command)
  if (bare && program === 'ip' && args.length < 2) return false
  // What follows sudo is typed, whatever the program.
  if (/^\s*sudo\s+[\w./-]+/.test(command) && !TOOLS[program]) return !isPlaceholder(command, program, args)
  const accepts = TOOLS[program]
  return Boolean(accepts && accepts(args) && !isPlaceholder(command, program, args))
}

/** A line typed behind a prompt may run any program; it still must look like a command. */
function isAnyCommand(command: string): boolean {
  if (!command || CJK.test(command.replace(/\s#.*$/, ''))) return false
  const { program, args } = programOf(command)
  if (!/^[\w./~][\w./+-]*$/.test(program) && !/^[A-Za-z_]\w*=/.test(command)) return false
  return !isPlaceholder(command, program, args)
}

/** A lab command a scraper ran straight into the next heading (harness/parse/glued-heading.ts):
 *  the command and the heading. */
export function gluedHeading(text: string): { command: string; heading: string } | undefined {
  for (const m of text.matchAll(GLUE_JUNCTION)) {
    const command = text.slice(0, m.index).trimEnd()
    const heading = text.slice(m.index).trim()
    if (isTitleCaseHeading(heading) && isLabCommand(command)) return { command, heading }
  }
  return undefined
}

/** `markdown`: the post has code fences, so a `# ` line outside them is a heading; in scraped
 *  text it is a comment or a root prompt. */
export function classify(line: PostLine, markdown = true): LineKind {
  const text = line.text
  if (/^\s*(```|~~~)/.test(text)) return { kind: 'fence' }
  if (!text.trim()) return { kind: 'blank' }
  if (!line.fenced && markdown) {
    const heading = /^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$/.exec(text)
    if (heading && !isLabCommand(heading[1]!)) return { kind: 'heading', title: heading[1]!.replace(/[*_`]/g, '').trim() }
  }
  for (const { re, strict } of PROMPTS) {
    const m = re.exec(text)
    if (!m?.groups) continue
    const typed = m.groups.cmd!.replace(/\s+#[^'"]*$/, '').trim()
    const prompt: Prompt = { host: m.groups.host, user: m.groups.user }
    if (!typed && m.groups.host) return { kind: 'prompt-only', prompt }
    if (strict ? isLabCommand(typed) : isAnyCommand(typed)) return { kind: 'command', command: typed, prompt: m.groups.host ? prompt : undefined, prompted: true }
  }
  if (/^\s*(#|\/\/)/.test(text)) return { kind: 'comment', text: text.replace(/^\s*(#+|\/\/)\s*/, '') }
  if (isLabCommand(text, !line.fenced)) return { kind: 'command', command: commandPart(text) }
  if (/^\s*(export\s+)?[A-Za-z_]\w*=("[^"]*"|'[^']*'|[^\s"']+)\s*$/.test(text) && (line.fenced || /^\s*(export\s+)?[A-Z_][A-Z0-9_]*=["']/.test(text))) return { kind: 'command', command: text.trim() }
  if (isProse(text)) return { kind: 'prose' }
  return { kind: 'other' }
}

/** Words meant for a reader: Chinese text, or a sentence. Output lines are neither. */
/** Lines tools print that read like sentences: ping's banner and summary, table headers. */
const TOOL_OUTPUT = /^(PING\s|---.*---$|\d+ packets transmitted|rtt |\d+ bytes from|Kernel IP routing table|Destination\s+Gateway|From \S+ icmp_seq)/

export function isProse(text: string): boolean {
  if (/^\s*[-*•·]\s+[A-Za-z\u4e00-\u9fff]/.test(text)) return true
  const t = text.trim().replace(/^([•·]|[-*+]\s|\d+[.)]\s)\s*/, '')
  if (TOOL_OUTPUT.test(t)) return false
  if (CJK.test(t)) return true
  const words = t.split(/\s+/)
  return words.length >= 4 && /^[A-Z*_`"'(]/.test(t) && /[.:!?)]$/.test(t) && words.filter((w) => /^[a-z]+[,.]?$/.test(w)).length >= 3
}

export function hasCjk(text: string): boolean {
  return CJK.test(text)
}

/** A command that opens an interactive shell, whose next lines the reader types into it. */
export function opensShell(command: string): boolean {
  const words = command.trim().split(/\s+/)
  const last = words.at(-1) ?? ''
  const shell = /^(\/(usr\/)?bin\/)?(bash|sh|zsh|ash|dash)$/.test(last)
  const { program } = programOf(command)
  if (program === 'unshare' || program === 'nsenter') return shell || words.every((w, i) => i === 0 || w.startsWith('-') || w === 'sudo')
  return shell && (program === 'ip' || program === 'bash' || program === 'sh' || program === 'chroot')
}
