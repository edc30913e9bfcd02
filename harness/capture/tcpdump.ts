// Capture control: tcpdump on any interface of any host or namespace, with the pcap brought
// home through the host API.
//
// tcpdump runs inside the host, so it dies with the host whatever happens to labproof. A capture
// is started once and read by window (capture-set.ts): start() starts it and waits until it
// listens; mark() says how far its file goes once tcpdump has written every packet the kernel
// gave it; cut() brings home the packets written since a mark as a pcap of their own (and ends
// it, for a capture of one step); discard() ends it without keeping anything.
//
// What each costs is the processes it starts in the host (in a VM under TCG each costs about
// 50 ms; a shell builtin costs nothing): the requests of one kind to one host made in the same
// turn of the event loop (a window's marks, its cuts, the starts ahead of a step) go as one
// script, and the scripts use shell builtins wherever one does: a mark reads tcpdump's state
// and how far it has written (its file descriptor's position in /proc) with `read`, so it starts
// nothing beyond the host's `sh`; a cut starts `od`; a start waits for tcpdump's
// "listening on" line on a pipe with `read`, not by polling with `sleep`.
import { randomBytes } from 'node:crypto'
import { shellQuote, type ExecResult, type Host } from '../host.ts'
import type { Lab } from '../lab.ts'

export interface CaptureSpec {
  /** `host01:ens33`, `host01/ns1:v1`, `internet:eth0`, `host02:any`. */
  on: string
  filter?: string
}

export interface CapturePoint {
  host: string
  netns?: string
  iface: string
}

export function parseCapturePoint(on: string): CapturePoint {
  const colon = on.lastIndexOf(':')
  const [host, netns] = on.slice(0, colon).split('/') as [string, string | undefined]
  return { host, ...(netns ? { netns } : {}), iface: on.slice(colon + 1) }
}

export interface FinishedCapture {
  spec: CaptureSpec
  pcap: Buffer
  /** tcpdump's own account: "3 packets captured", and any warning. */
  tcpdumpLog: string
}

const REMOTE_DIR = '/run/labproof-captures'
/** Captures come home through the cut command's own output (in hex), with no local copy; the
 *  prefix names the copies earlier versions made, which `labproof clean` still removes. */
export const PCAP_TEMP_PREFIX = 'labproof-pcap-'
const READY_TIMEOUT_MS = 5_000
/** How often a mark looks again whether tcpdump has caught up, when it has not at once. */
const POLL_SECONDS = 0.005
/** How long a mark waits for tcpdump to catch up before it fails the step: the wait ends on a
 *  signal (tcpdump asleep with its ring empty); this only bounds a tcpdump that never is. */
const CATCH_UP_SECONDS = 8
/** Headers only: enough for every check, and a few KB per capture. */
const SNAPLEN = 262
/** How long a mark, cut or discard request may take in the host. */
const REQUEST_TIMEOUT_MS = 10_000
let counter = 0

/** Where a capture's file stood at a mark: its length in bytes once tcpdump had written every
 *  packet the kernel had given it, and whether tcpdump was still running (an interface that is
 *  deleted ends the tcpdump on it). */
export interface CaptureMark {
  offset: number
  running: boolean
}

/** The packets a capture wrote between a mark and now: a pcap of their own (the capture's file
 *  header, then those records, through the spec's filter), and the mark that ends the window. */
export interface CaptureCut {
  pcap: Buffer
  end: CaptureMark
}

/** What a start ahead says where it does not start: the interface is not one of those it may. */
export const NOT_AHEAD = 'not started ahead: promiscuous mode matters on'

/** The pcap file header: 24 bytes before the first record. */
export const PCAP_HEADER_BYTES = 24

export class RunningCapture {
  /** The file's own header, once a cut has brought it home. */
  private header?: Buffer

  /** @internal made by start() */
  constructor(
    readonly spec: CaptureSpec,
    readonly host: Host,
    readonly pid: number,
    /** tcpdump's descriptor of its file (its position is how far it has written), when found. */
    readonly fd: number | undefined,
    readonly remoteBase: string,
    /** tcpdump's "listening on …, link-type …" line: the link type of an empty window's pcap. */
    readonly listening: string,
  ) {}

  /** Start tcpdump and wait until it listens: with the other starts on the same host asked for
   *  in this turn, one round trip to the host. Each start succeeds or fails on its own: one that
   *  never listens fails (and is ended) alone, the others of its request run on. `ahead`: only
   *  where starting before the step that reads it changes nothing (startLines). */
  static start(lab: Lab, spec: CaptureSpec, opts: { ahead?: boolean } = {}): Promise<RunningCapture> {
    const point = parseCapturePoint(spec.on)
    const host = lab.host(point.host)
    const base = `${REMOTE_DIR}/${process.pid}-${Date.now().toString(36)}-${counter++}`
    // Starts ahead go in a request of their own: a window waits for its own starts only.
    return request(host, opts.ahead ? 'ahead' : 'start', {
      script: (tag) => startLines(tag, base, point, spec.filter, opts.ahead ?? false),
      parse: (part, whole) => {
        const pid = Number(/^pid (\d+)$/m.exec(part)?.[1])
        const listening = /^up (.*listening on .*)$/m.exec(part)?.[1]
        if (!pid || listening === undefined) {
          // Told to start and never listening (the request timed out): ended, its file removed.
          if (pid && whole.timedOut) void host.exec(stopLines({ pid, remoteBase: base }).join('\n')).catch(() => undefined)
          const said = [...part.matchAll(/^log (.*)$/gm)].map((m) => m[1]).join('\n').trim()
          throw new Error(`tcpdump did not start on ${spec.on}: ${said || (whole.timedOut ? 'it was not listening' : whole.stderr.trim() || whole.stdout.trim() || `exit ${whole.exitCode}`)}${whole.timedOut ? ` within ${READY_TIMEOUT_MS / 1000} s` : ''}`)
        }
        const fd = Number(/^fd (\d+)$/m.exec(part)?.[1])
        return new RunningCapture(spec, host, pid, Number.isInteger(fd) && fd > 0 ? fd : undefined, base, listening)
      },
    })
  }

  /** Where the file stands once tcpdump has caught up. */
  mark(): Promise<CaptureMark> {
    return request(this.host, 'mark', {
      script: () => catchUpLines(this),
      parse: (part, whole) => parseMark(part) ?? this.failed('could not read the capture', part, whole),
    })
  }

  /** The packets written since `from` (a mark's offset), once tcpdump has caught up. With
   *  `stop`, tcpdump is ended and its files removed in the same request. */
  cut(from: number, opts: { stop?: boolean } = {}): Promise<CaptureCut> {
    // Without the file's header yet, the first cut reads the file from its start.
    const readFrom = this.header ? from : 0
    return request(this.host, 'cut', {
      script: () => cutLines(this, from, readFrom, opts.stop ?? false),
      parse: (part, whole) => {
        const end = parseMark(part)
        if (!end) return this.failed('could not read the capture and bring its packets home', part, whole)
        const data = Buffer.from(part.slice(part.indexOf('\n') + 1).replace(/\s+/g, ''), 'hex')
        if (end.offset <= from) return { pcap: emptyPcap(this.listening), end }
        // The output may go on past the mark (packets written since): the window ends at it.
        const want = end.offset - readFrom
        if (data.length < want) return this.failed(`brought ${data.length} of ${want} bytes of the capture home`, part, whole)
        this.header ??= Buffer.from(data.subarray(0, PCAP_HEADER_BYTES))
        return { pcap: Buffer.concat([this.header, data.subarray(from - readFrom, want)]), end }
      },
    })
  }

  /** Stop without keeping anything. */
  async discard(): Promise<void> {
    await request(this.host, 'discard', { script: () => stopLines(this), parse: () => undefined })
  }

  private failed(what: string, part: string, whole: ExecResult): never {
    throw new Error(`${what} on ${this.spec.on} (tcpdump pid ${this.pid}; exit ${whole.exitCode}${whole.timedOut ? ', no answer in time' : ''}): ${(part || whole.stderr || whole.stdout).trim()}`)
  }
}

/** `mark OFFSET RUNNING` on the first line of a mark or cut. */
function parseMark(part: string): CaptureMark | undefined {
  const m = /^mark (\d+) ([01])$/.exec(part.split('\n', 1)[0] ?? '')
  return m ? { offset: Math.max(Number(m[1]), PCAP_HEADER_BYTES), running: m[2] === '1' } : undefined
}

/** tcpdump's names for the link types it writes, from its "listening on" line. */
const LINK_TYPE_BY_NAME: Record<string, number> = { EN10MB: 1, RAW: 101, LINUX_SLL: 113, LINUX_SLL2: 276 }

/** A pcap with no packet, of the capture's link type: an empty window's file. */
export function emptyPcap(listening: string): Buffer {
  const name = /link-type (\S+)/.exec(listening)?.[1] ?? ''
  const header = Buffer.alloc(PCAP_HEADER_BYTES)
  header.writeUInt32LE(0xa1b2c3d4, 0)
  header.writeUInt16LE(2, 4)
  header.writeUInt16LE(4, 6)
  header.writeUInt32LE(SNAPLEN, 16)
  header.writeUInt32LE(LINK_TYPE_BY_NAME[name] ?? 1, 20)
  return header
}

// ---- Requests: the parts asked of one host in one turn, as one script ----

type Op = 'start' | 'ahead' | 'mark' | 'cut' | 'discard'

interface Part<T> {
  /** The part's lines; `tag` marks the lines of a start, whose parts run side by side. */
  script(tag: number): string[]
  /** Its value from its own output (a section, or its tagged lines without the tag). */
  parse(part: string, whole: ExecResult): T
}

interface Queued {
  part: Part<unknown>
  resolve(value: unknown): void
  reject(error: unknown): void
}

const queues = new Map<Host, Map<Op, Queued[]>>()

/** Queue a part for the host's next request of this kind, sent once this turn is over. */
function request<T>(host: Host, op: Op, part: Part<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let byOp = queues.get(host)
    if (!byOp) queues.set(host, (byOp = new Map()))
    let queue = byOp.get(op)
    if (!queue) {
      byOp.set(op, (queue = []))
      setImmediate(() => {
        byOp!.delete(op)
        if (byOp!.size === 0 && queues.get(host) === byOp) queues.delete(host)
        void send(host, op, queue!)
      })
    }
    queue.push({ part: part as Part<unknown>, resolve: resolve as (v: unknown) => void, reject })
  })
}

async function send(host: Host, op: Op, parts: Queued[]): Promise<void> {
  const token = `lp${randomBytes(6).toString('hex')}`
  // The first line names the request (bench/round-trips.ts and step profiles read it).
  const starts = op === 'start' || op === 'ahead'
  const lines = [`# labproof capture ${op === 'ahead' ? 'start ahead' : op} (${parts.length})`]
  if (starts) {
    // Every capture starts side by side; each tags its lines with its number.
    lines.push(`[ -d ${REMOTE_DIR} ] || mkdir -p ${REMOTE_DIR} || exit 1`, 'session=; command -v setsid >/dev/null && session=setsid', ...parts.flatMap((p, i) => p.part.script(i)), 'wait')
  } else {
    // One after another, each a section of the output: its own lines, then its status.
    parts.forEach((p, i) => lines.push(`echo '${token} ${i}'`, '(', ...p.part.script(i), ') 2>&1', `printf '\\n${token} ${i} %s\\n' $?`))
  }
  let whole: ExecResult
  try {
    whole = await host.exec(lines.join('\n'), { timeoutMs: starts ? READY_TIMEOUT_MS + 5_000 : REQUEST_TIMEOUT_MS })
  } catch (error) {
    for (const p of parts) p.reject(error)
    return
  }
  parts.forEach((p, i) => {
    let own: string
    if (starts) {
      own = whole.stdout.split('\n').flatMap((l) => (l.startsWith(`${i} `) ? [l.slice(String(i).length + 1)] : [])).join('\n')
    } else {
      const begin = whole.stdout.indexOf(`${token} ${i}\n`)
      const end = whole.stdout.indexOf(`\n${token} ${i} `, begin)
      own = begin < 0 ? '' : whole.stdout.slice(begin + `${token} ${i}\n`.length, end < 0 ? undefined : end)
    }
    try {
      p.resolve(p.part.parse(own, whole))
    } catch (error) {
      p.reject(error)
    }
  })
}

// ---- The scripts: shell builtins wherever one does ----

/** Start tcpdump in the background and report, on lines tagged `TAG `, its PID, its "listening
 *  on" line once it listens (packets sent before would be lost), and its file's descriptor; or
 *  what it said before it ended, its file removed. Its errors come through a pipe that a builtin
 *  `read` waits on: no polling. The pipe is closed once it listens (tcpdump says nothing more
 *  until it ends, and it is killed). -U and --immediate-mode: each packet is delivered and
 *  written as it arrives (else the last batch is lost on stop); -s 262: headers only, enough for
 *  every check and a few KB per capture; -n: no name lookups (nothing may leave the lab).
 *  tcpdump runs in a session of its own (setsid, where the host has it), so a request that is
 *  ended for taking too long ends none of the captures it started that listen.
 *
 *  Promiscuous mode: an interface that sees every frame without it (veth, tun/tap, and the
 *  other virtual ones with no device type, as the host's /sys tells: none filters by address)
 *  is captured with -p, so capturing it changes nothing on it; any other (a bridge, which
 *  delivers to itself only what is its own unless promiscuous; a NIC) is captured promiscuous,
 *  and stays so. `ahead` (a start before the step that reads it, while earlier steps run):
 *  only `any` and the interfaces captured with -p; the others are not started. In a namespace,
 *  `ip netns exec` (which mounts the namespace's /sys) runs the choice and becomes tcpdump. */
export function startLines(tag: number, base: string, point: CapturePoint, filter: string | undefined, ahead: boolean): string[] {
  const file = `${base}.pcap`
  const options = `-n -U --immediate-mode -s ${SNAPLEN} -i ${shellQuote(point.iface)} -w ${file}${filter ? ` ${shellQuote(filter)}` : ''}`
  let run: string
  if (point.iface === 'any') {
    run = `${point.netns ? `ip netns exec ${shellQuote(point.netns)} ` : ''}tcpdump ${options}`
  } else {
    const d = `/sys/class/net/${point.iface}`
    const choose = [
      `d=${shellQuote(d)} p=`,
      'if [ -e "$d/tun_flags" ]; then p=-p',
      'elif [ -r "$d/uevent" ] && [ ! -e "$d/device" ]; then',
      '  t=; while IFS== read -r k v; do [ "$k" = DEVTYPE ] && t=$v; done < "$d/uevent"',
      '  case $t in ""|vxlan) p=-p;; esac',
      'fi',
      ...(ahead ? [`[ -n "$p" ] || { echo "${NOT_AHEAD} ${point.iface}" >&2; exit 1; }`] : []),
      `exec tcpdump $p ${options}`,
    ].join('\n')
    run = point.netns ? `ip netns exec ${shellQuote(point.netns)} sh -c ${shellQuote(choose)}` : `sh -c ${shellQuote(choose)}`
  }
  return [
    `{ $session ${run} 2>&1 >/dev/null </dev/null & echo "labproof-pid $!"; } | {`,
    '  p= u=',
    '  while IFS= read -r l; do',
    '    case $l in',
    `      'labproof-pid '*) p=\${l#labproof-pid }; echo "${tag} pid $p" ;;`,
    `      *'listening on'*) u=1; printf '%s\\n' "${tag} up $l" ;;`,
    `      *) printf '%s\\n' "${tag} log $l" ;;`,
    '    esac',
    '    if [ -n "$p" ] && [ -n "$u" ]; then',
    `      for f in /proc/$p/fd/*; do if [ "$f" -ef ${file} ]; then echo "${tag} fd \${f##*/}"; break; fi; done`,
    '      exit 0',
    '    fi',
    '  done',
    `  rm -f ${file}`,
    '} &',
  ]
}

/** Wait until tcpdump has read every packet the kernel put in its ring and written it (-U: each
 *  packet is flushed to the file as it is read). A packet is in tcpdump's ring before ping or
 *  anyone on the host receives it, and tcpdump sleeps in poll() (state S) only when its ring
 *  holds nothing unread (a new packet wakes it: state R); stopped (T) or busy, it is waited for.
 *  Reading the file sooner lost the last echo reply of a ping that had just ended (under load,
 *  5 captures in 70, when tcpdump was interrupted instead: pcap_breakloop drops what is unread).
 *  Then print `mark LENGTH RUNNING`: how far tcpdump has written its file (its descriptor's
 *  position, read with `read`; the file's length when tcpdump is gone), and 0 when tcpdump is
 *  gone (its interface was deleted): it wrote nothing more after its last packet. */
export function catchUpLines(c: { pid: number; fd: number | undefined; remoteBase: string }): string[] {
  const polls = Math.ceil(CATCH_UP_SECONDS / POLL_SECONDS)
  return [
    'n=0 running=1 size=',
    'while :; do',
    `  { read -r _ _ state _ < /proc/${c.pid}/stat; } 2>/dev/null || { running=0; break; }`,
    '  case $state in S) break;; Z|X) running=0; break;; esac',
    `  if [ "$n" -ge ${polls} ]; then echo "tcpdump (pid ${c.pid}) did not catch up with its packets within ${CATCH_UP_SECONDS} s (state $state)"; exit 3; fi`,
    `  n=$((n + 1)); sleep ${POLL_SECONDS}`,
    'done',
    ...(c.fd ? [`[ "$running" = 0 ] || { read -r _ size < /proc/${c.pid}/fdinfo/${c.fd}; } 2>/dev/null || running=0`] : []),
    `[ -n "$size" ] || size=$(wc -c < ${c.remoteBase}.pcap 2>/dev/null) || size=0`,
    'size=$((size + 0))',
    'echo "mark $size $running"',
  ]
}

/** After catching up (the first line, as a mark's), the file from byte `readFrom` in hex, by one
 *  `od` (which skips to it itself: one process, where `tail | base64` took two; the caller keeps
 *  what lies before the mark). */
export function cutLines(c: RunningCapture, from: number, readFrom: number, stop: boolean): string[] {
  return [
    ...catchUpLines(c),
    `if [ "$size" -gt ${from} ]; then od -An -v -tx1 -j ${readFrom} ${c.remoteBase}.pcap || exit 1; fi`,
    ...(stop ? stopLines(c) : []),
  ]
}

/** End tcpdump and remove its files: nothing is kept, so nothing needs flushing. */
export function stopLines(c: { pid: number; remoteBase: string }): string[] {
  return [`kill -KILL ${c.pid} 2>/dev/null; rm -f ${c.remoteBase}.pcap`]
}
