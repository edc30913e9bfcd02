// Capture control: tcpdump on any interface of any host or namespace, with the pcap brought
// home through the host API.
//
// tcpdump runs inside the host, so it dies with the host whatever happens to labproof. A capture
// is started once and read by window (capture-set.ts): start() starts it and waits until it
// listens; mark() says how far its file goes once tcpdump has written every packet the kernel
// gave it; cut() brings home the packets written since a mark, filtered, as a pcap of their own
// (and ends it, for a capture of one step); discard() ends it without keeping anything.
//
// What each costs is the processes it starts in the host (in a VM under TCG each costs about
// 50 ms; a shell builtin costs nothing): the requests of one kind to one host made in the same
// turn of the event loop (a window's marks, its cuts, the starts ahead of a step) go as one
// script, and the scripts use shell builtins wherever one does: a mark reads tcpdump's state
// and how far it has written (its file descriptor's position in /proc) with `read`, so it starts
// nothing beyond the host's `sh`; a cut starts `tail` and `base64` (and a `tcpdump -r` only when
// the window reads the capture through another filter than it was made with); a start waits
// for tcpdump's "listening on" line on a pipe with `read`, not by polling with `sleep`.
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
/** Captures come home through the cut command's own output (base64), with no local copy; the
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
   *  in this turn, one round trip to the host. */
  static start(lab: Lab, spec: CaptureSpec): Promise<RunningCapture> {
    const point = parseCapturePoint(spec.on)
    const host = lab.host(point.host)
    const base = `${REMOTE_DIR}/${process.pid}-${Date.now().toString(36)}-${counter++}`
    return request(host, 'start', {
      script: (tag) => startLines(tag, base, point, spec.filter),
      parse: (part, whole) => {
        const pid = Number(/^pid (\d+)$/m.exec(part)?.[1])
        const listening = /^up (.*listening on .*)$/m.exec(part)?.[1]
        if (!pid || listening === undefined) {
          const said = [...part.matchAll(/^log (.*)$/gm)].map((m) => m[1]).join('\n').trim()
          throw new Error(`tcpdump did not start on ${spec.on}: ${said || whole.stderr.trim() || whole.stdout.trim() || `exit ${whole.exitCode}`}${whole.timedOut ? ' (no answer in time)' : ''}`)
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

  /** The packets written since `from` (a mark's offset), once tcpdump has caught up, through
   *  `filter` (tcpdump reading them back in the host). With `stop`, tcpdump is ended and its
   *  files removed in the same request. */
  cut(from: number, filter: string | undefined, opts: { stop?: boolean } = {}): Promise<CaptureCut> {
    // Without the file's header yet, the first cut reads the file from its start.
    const readFrom = filter === undefined && !this.header ? 0 : from
    return request(this.host, 'cut', {
      script: () => cutLines(this, from, readFrom, filter, opts.stop ?? false, this.header),
      parse: (part, whole) => {
        const end = parseMark(part)
        if (!end) return this.failed('could not read the capture and bring its packets home', part, whole)
        const body = part.slice(part.indexOf('\n') + 1)
        const logs = [...body.matchAll(/^log (.*)$/gm)].map((m) => m[1]!)
        const data = Buffer.from(body.replace(/^log .*$/gm, ''), 'base64')
        if (filter !== undefined) {
          // tcpdump writes a pcap (its header at least) unless it refused the filter.
          if (data.length < PCAP_HEADER_BYTES) {
            throw new Error(`tcpdump could not read the capture on ${this.spec.on} back through the filter ${JSON.stringify(filter)}: ${logs.join('\n').trim() || whole.stderr.trim()}`)
          }
          this.header ??= Buffer.from(data.subarray(0, PCAP_HEADER_BYTES))
          return { pcap: end.offset > from ? data : emptyPcap(this.listening), end }
        }
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

type Op = 'start' | 'mark' | 'cut' | 'discard'

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
  const lines = [`# labproof capture ${op} (${parts.length})`]
  if (op === 'start') {
    // Every capture starts side by side; each tags its lines with its number.
    lines.push(`[ -d ${REMOTE_DIR} ] || mkdir -p ${REMOTE_DIR} || exit 1`, ...parts.flatMap((p, i) => p.part.script(i)), 'wait')
  } else {
    // One after another, each a section of the output: its own lines, then its status.
    parts.forEach((p, i) => lines.push(`echo '${token} ${i}'`, '(', ...p.part.script(i), ') 2>&1', `printf '\\n${token} ${i} %s\\n' $?`))
  }
  let whole: ExecResult
  try {
    whole = await host.exec(lines.join('\n'), { timeoutMs: op === 'start' ? READY_TIMEOUT_MS + 5_000 : REQUEST_TIMEOUT_MS })
  } catch (error) {
    for (const p of parts) p.reject(error)
    return
  }
  parts.forEach((p, i) => {
    let own: string
    if (op === 'start') {
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
 *  every check and a few KB per capture; -n: no name lookups (nothing may leave the lab). In a
 *  namespace, `ip netns exec` becomes tcpdump (same PID). */
export function startLines(tag: number, base: string, point: CapturePoint, filter?: string): string[] {
  const file = `${base}.pcap`
  const inNs = point.netns ? `ip netns exec ${shellQuote(point.netns)} ` : ''
  const tcpdump = `${inNs}tcpdump -n -U --immediate-mode -s ${SNAPLEN} -i ${shellQuote(point.iface)} -w ${file}${filter ? ` ${shellQuote(filter)}` : ''}`
  return [
    `{ ${tcpdump} 2>&1 >/dev/null </dev/null & echo "labproof-pid $!"; } | {`,
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

/** After catching up (the first line, as a mark's), the file from byte `readFrom` in base64 (the
 *  caller keeps what lies before the mark); or, through `filter`, the records from `from` to
 *  the mark behind the file's header, read back by tcpdump, in base64, then what tcpdump said
 *  (`log` lines). A filter is applied to an empty window too, so a filter tcpdump refuses fails
 *  every window, not only those with packets. */
export function cutLines(c: RunningCapture, from: number, readFrom: number, filter: string | undefined, stop: boolean, header: Buffer | undefined): string[] {
  const f = `${c.remoteBase}.pcap`
  const octal = (b: Buffer) => `printf '${[...b].map((x) => `\\${x.toString(8).padStart(3, '0')}`).join('')}'`
  const headerSource = header ? octal(header) : `if [ "$size" -gt ${from} ]; then head -c ${PCAP_HEADER_BYTES} ${f}; else ${octal(emptyPcap(c.listening))}; fi`
  return [
    ...catchUpLines(c),
    ...(filter === undefined
      ? [`if [ "$size" -gt ${from} ]; then tail -c +${readFrom + 1} ${f} | base64 || exit 1; fi`]
      : [
          `{ ${headerSource}; if [ "$size" -gt ${from} ]; then tail -c +${from + 1} ${f} | head -c $((size - ${from})); fi; } | tcpdump -n -r - -w - ${shellQuote(filter)} 2>${c.remoteBase}.flog | base64`,
          `while IFS= read -r l; do printf 'log %s\\n' "$l"; done < ${c.remoteBase}.flog`,
        ]),
    ...(stop ? stopLines(c) : []),
  ]
}

/** End tcpdump and remove its files: nothing is kept, so nothing needs flushing. */
export function stopLines(c: { pid: number; remoteBase: string }): string[] {
  return [`kill -KILL ${c.pid} 2>/dev/null; rm -f ${c.remoteBase}.pcap ${c.remoteBase}.flog`]
}
