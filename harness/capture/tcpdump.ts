// Capture control: tcpdump on any interface of any host or namespace, with the pcap brought
// home through the host API.
//
// tcpdump runs inside the host, so it dies with the host whatever happens to labproof. A capture
// is started once and read by window (capture-set.ts): start() starts it and waits until it
// listens; mark() says how far its file goes once tcpdump has written every packet the kernel
// gave it; cut() brings home the packets written since a mark, filtered, as a pcap of their own
// (and ends it, for a capture of one step); discard() ends it without keeping anything.
import { shellQuote, type Host } from '../host.ts'
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
/** How often the host looks for tcpdump's "listening on" line, and whether it has caught up. */
const POLL_SECONDS = 0.005
/** How long a mark waits for tcpdump to catch up before it fails the step: the wait ends on a
 *  signal (tcpdump asleep with its ring empty); this only bounds a tcpdump that never is. */
const CATCH_UP_SECONDS = 8
/** Headers only: enough for every check, and a few KB per capture. */
const SNAPLEN = 262
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
  /** What tcpdump said reading the window back through a filter (normally nothing). */
  log: string
}

/** The pcap file header: 24 bytes before the first record. */
export const PCAP_HEADER_BYTES = 24

export class RunningCapture {
  private constructor(
    readonly spec: CaptureSpec,
    private readonly host: Host,
    private readonly pid: number,
    private readonly remoteBase: string,
    /** tcpdump's "listening on …, link-type …" line: the link type of an empty window's pcap. */
    readonly listening: string,
  ) {}

  /** Start tcpdump and wait until it listens, in one round trip to the host. */
  static async start(lab: Lab, spec: CaptureSpec): Promise<RunningCapture> {
    const point = parseCapturePoint(spec.on)
    const host = lab.host(point.host)
    const base = `${REMOTE_DIR}/${process.pid}-${Date.now().toString(36)}-${counter++}`
    const r = await host.exec(startScript(base, point.iface, spec.filter), { netns: point.netns, timeoutMs: READY_TIMEOUT_MS + 5_000 })
    const pid = Number(/^pid=(\d+)$/m.exec(r.stdout)?.[1])
    if (r.exitCode !== 0 || !pid) {
      throw new Error(`tcpdump did not start on ${spec.on}: ${(r.stderr.trim() || r.stdout.trim() || `exit ${r.exitCode}`)}${r.timedOut ? ' (no answer in time)' : ''}`)
    }
    return new RunningCapture(spec, host, pid, base, /listening on .*$/m.exec(r.stdout)?.[0] ?? '')
  }

  /** Where the file stands once tcpdump has caught up: one round trip. */
  async mark(): Promise<CaptureMark> {
    const r = await this.host.exec(markScript(this.pid, this.remoteBase), { timeoutMs: 10_000 })
    const mark = parseMark(r.stdout)
    if (r.exitCode !== 0 || !mark) throw new Error(`could not read the capture on ${this.spec.on} (tcpdump pid ${this.pid}; exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`)
    return mark
  }

  /** The packets written since `from` (a mark's offset), once tcpdump has caught up, through
   *  `filter` (tcpdump reading them back in the host): one round trip. With `stop`, tcpdump is
   *  ended and its files removed in the same round trip. */
  async cut(from: number, filter: string | undefined, opts: { stop?: boolean } = {}): Promise<CaptureCut> {
    const r = await this.host.exec(cutScript(this.pid, this.remoteBase, from, filter, opts.stop ?? false, emptyPcap(this.listening)), { timeoutMs: 10_000 })
    const end = parseMark(r.stdout)
    if (r.exitCode === 4) throw new Error(`tcpdump could not read the capture on ${this.spec.on} back through the filter ${JSON.stringify(filter)}: ${r.stderr.trim()}`)
    if (r.exitCode !== 0 || !end) {
      throw new Error(`could not read the capture on ${this.spec.on} (tcpdump pid ${this.pid}) and bring its packets home (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`)
    }
    const body = r.stdout.slice(r.stdout.indexOf('\n') + 1)
    const pcap = end.offset > from ? Buffer.from(body, 'base64') : emptyPcap(this.listening)
    return { pcap, end, log: r.stderr.trim() }
  }

  /** Stop without keeping anything. */
  async discard(): Promise<void> {
    await this.host.exec(discardScript(this.pid, this.remoteBase), { timeoutMs: 10_000 })
  }
}

/** `mark OFFSET RUNNING` on the first line of a mark or cut. */
function parseMark(stdout: string): CaptureMark | undefined {
  const m = /^mark (\d+) ([01])$/m.exec(stdout.split('\n', 1)[0] ?? '')
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

/** Start tcpdump in the background, print its PID, and return once it listens: packets sent
 *  before that would be lost. On failure, its log goes to stderr and nothing is left behind.
 *  -U and --immediate-mode: each packet is delivered and written as it arrives (else the last
 *  batch is lost on stop); -s 262: headers only, enough for every check and a few KB per
 *  capture; -n: no name lookups (nothing may leave the lab). */
export function startScript(base: string, iface: string, filter?: string): string {
  const polls = Math.ceil(READY_TIMEOUT_MS / 1000 / POLL_SECONDS)
  return [
    // The log exists before tcpdump does: the background job creates its redirection later.
    `mkdir -p ${REMOTE_DIR} && : > ${base}.log || exit 1`,
    `tcpdump -n -U --immediate-mode -s ${SNAPLEN} -i ${shellQuote(iface)} -w ${base}.pcap${filter ? ` ${shellQuote(filter)}` : ''} >/dev/null 2>${base}.log </dev/null &`,
    'pid=$!',
    'echo "pid=$pid"',
    // Only shell builtins in the check, so polling costs one `sleep` per round.
    `listening() { while IFS= read -r line; do case $line in *'listening on'*) return 0;; esac; done < ${base}.log; return 1; }`,
    'n=0',
    'until listening; do',
    `  if ! kill -0 "$pid" 2>/dev/null || [ "$n" -ge ${polls} ]; then`,
    `    kill -KILL "$pid" 2>/dev/null; cat ${base}.log >&2; [ "$n" -ge ${polls} ] && echo "no answer within ${READY_TIMEOUT_MS / 1000} s" >&2`,
    `    rm -f ${base}.pcap ${base}.log; exit 1`,
    '  fi',
    `  n=$((n + 1)); sleep ${POLL_SECONDS}`,
    'done',
    // The link type, for the pcap of a window that holds no packet.
    'printf \'%s\\n\' "$line"',
  ].join('\n')
}

/** Wait until tcpdump has read every packet the kernel put in its ring and written it (-U: each
 *  packet is flushed to the file as it is read). A packet is in tcpdump's ring before ping or
 *  anyone on the host receives it, and tcpdump sleeps in poll() (state S) only when its ring
 *  holds nothing unread (a new packet wakes it: state R); stopped (T) or busy, it is waited for.
 *  Reading the file sooner lost the last echo reply of a ping that had just ended (under load,
 *  5 captures in 70, when tcpdump was interrupted instead: pcap_breakloop drops what is unread).
 *  Then print
 *  `mark LENGTH RUNNING`: the file's length, and 0 when tcpdump is gone (its interface was
 *  deleted): it wrote nothing more after its last packet. */
function catchUpLines(pid: number, base: string): string[] {
  const polls = Math.ceil(CATCH_UP_SECONDS / POLL_SECONDS)
  return [
    'n=0 running=1',
    `while :; do`,
    `  { read -r _ _ state _ < /proc/${pid}/stat; } 2>/dev/null || { running=0; break; }`,
    '  case $state in S) break;; Z|X) running=0; break;; esac',
    `  if [ "$n" -ge ${polls} ]; then echo "tcpdump (pid ${pid}) did not catch up with its packets within ${CATCH_UP_SECONDS} s (state $state)" >&2; exit 3; fi`,
    `  n=$((n + 1)); sleep ${POLL_SECONDS}`,
    'done',
    `size=$(wc -c < ${base}.pcap 2>/dev/null) || size=0; size=$((size + 0))`,
    'echo "mark $size $running"',
  ]
}

export function markScript(pid: number, base: string): string {
  return catchUpLines(pid, base).join('\n')
}

/** After catching up (the first line, as markScript), the records written since byte `from`
 *  behind the file's own header, through `filter` when there is one, in base64. A filter is
 *  applied to an empty window too (behind `header`, the file may have none yet), so a filter
 *  tcpdump refuses fails every window, not only those with packets. */
export function cutScript(pid: number, base: string, from: number, filter: string | undefined, stop: boolean, header: Buffer): string {
  const f = `${base}.pcap`
  const records = `tail -c +$((${from} + 1)) ${f} | head -c $((size - ${from}))`
  const ownHeader = `printf '${[...header].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('')}'`
  return [
    ...catchUpLines(pid, base),
    'status=0',
    ...(filter === undefined
      ? [`if [ "$size" -gt ${from} ]; then { head -c ${PCAP_HEADER_BYTES} ${f}; ${records}; } | base64 || status=1; fi`]
      : [
          `if [ "$size" -gt ${from} ]; then { head -c ${PCAP_HEADER_BYTES} ${f}; ${records}; } > ${base}.window; else ${ownHeader} > ${base}.window; fi`,
          `if tcpdump -n -r ${base}.window -w ${base}.filtered ${shellQuote(filter)} 2>${base}.filterlog; then`,
          `  if [ "$size" -gt ${from} ]; then base64 < ${base}.filtered || status=1; fi`,
          `else cat ${base}.filterlog >&2; status=4; fi`,
          `rm -f ${base}.window ${base}.filtered ${base}.filterlog`,
        ]),
    ...(stop ? [`kill -KILL ${pid} 2>/dev/null`, `rm -f ${f} ${base}.log`] : []),
    'exit $status',
  ].join('\n')
}

/** End tcpdump and remove its files: nothing is kept, so nothing needs flushing. */
export function discardScript(pid: number, base: string): string {
  return `kill -KILL ${pid} 2>/dev/null; rm -f ${base}.pcap ${base}.log`
}
