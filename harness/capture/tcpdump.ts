// Capture control: tcpdump on any interface of any host or namespace, with the pcap brought
// home through the host API.
//
// tcpdump runs inside the host, so it dies with the host whatever happens to labproof. A capture
// is started once and read by window (capture-set.ts): start() starts it and waits until it
// listens; mark() says how far its file goes once tcpdump has written every packet the kernel
// gave it; cut() brings home the packets written since a mark, filtered, as a pcap of their own;
// stop() interrupts it (for a capture of one step) and discard() ends it without keeping anything.
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
/** Captures come home through the stop command's own output (base64), with no local copy; the
 *  prefix names the copies earlier versions made, which `labproof clean` still removes. */
export const PCAP_TEMP_PREFIX = 'labproof-pcap-'
const READY_TIMEOUT_MS = 5_000
/** How often the host looks for tcpdump's "listening on" line, and for its exit after SIGINT. */
const POLL_SECONDS = 0.005
/** SIGINT lets tcpdump flush and close the file; SIGKILL if it is not gone within 2 s. */
const STOP_GRACE_SECONDS = 2
/** How long a mark waits for tcpdump to catch up before it fails the step: a signal (tcpdump
 *  asleep with its ring empty), so under load it waits longer, never less. */
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
    const r = await this.host.exec(cutScript(this.pid, this.remoteBase, from, filter, opts.stop ?? false), { timeoutMs: 10_000 })
    const end = parseMark(r.stdout)
    if (r.exitCode === 4) throw new Error(`tcpdump could not read the capture on ${this.spec.on} back through the filter ${JSON.stringify(filter)}: ${r.stderr.trim()}`)
    if (r.exitCode !== 0 || !end) {
      throw new Error(`could not read the capture on ${this.spec.on} (tcpdump pid ${this.pid}) and bring its packets home (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`)
    }
    const body = r.stdout.slice(r.stdout.indexOf('\n') + 1)
    const pcap = end.offset > from ? Buffer.from(body, 'base64') : emptyPcap(this.listening)
    return { pcap, end, log: r.stderr.trim() }
  }

  /** Interrupt tcpdump, wait for it to exit, and bring the pcap home: one round trip. */
  async stop(): Promise<FinishedCapture> {
    const r = await this.host.exec(stopScript(this.pid, this.remoteBase, true), { timeoutMs: 10_000 })
    if (r.exitCode !== 0) {
      throw new Error(`could not stop tcpdump (pid ${this.pid}) on ${this.spec.on} and bring its pcap home (exit ${r.exitCode}): ${r.stderr.trim()}`)
    }
    return { spec: this.spec, pcap: Buffer.from(r.stdout, 'base64'), tcpdumpLog: r.stderr.trim() }
  }

  /** Stop without keeping anything. */
  async discard(): Promise<void> {
    await this.host.exec(stopScript(this.pid, this.remoteBase, false), { timeoutMs: 10_000 })
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
 *  packet is flushed to the file as it is read): it sleeps in poll() (state S) only then, and a
 *  packet is in its ring before anyone on the host receives it (see stopScript). Then print
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
 *  behind the file's own header, through `filter` when there is one, in base64. */
export function cutScript(pid: number, base: string, from: number, filter: string | undefined, stop: boolean): string {
  const f = `${base}.pcap`
  const window = `{ head -c ${PCAP_HEADER_BYTES} ${f}; tail -c +$((${from} + 1)) ${f} | head -c $((size - ${from})); }`
  return [
    ...catchUpLines(pid, base),
    'status=0',
    `if [ "$size" -gt ${from} ]; then`,
    filter === undefined
      ? `  ${window} | base64 || status=1`
      : [
          `  ${window} > ${base}.window`,
          `  if tcpdump -n -r ${base}.window -w ${base}.filtered ${shellQuote(filter)} 2>${base}.filterlog; then base64 < ${base}.filtered || status=1`,
          `  else cat ${base}.filterlog >&2; status=4; fi`,
          `  rm -f ${base}.window ${base}.filtered ${base}.filterlog`,
        ].join('\n'),
    'fi',
    ...(stop ? [`kill -KILL ${pid} 2>/dev/null`, `rm -f ${f} ${base}.log`] : []),
    'exit $status',
  ].join('\n')
}

/** Interrupt tcpdump once it has read every packet the kernel gave it, and wait until it has
 *  written its last one. On SIGINT tcpdump ends its loop at once (pcap_breakloop): packets already
 *  in its ring but not yet read are dropped, which on a busy machine lost the last echo reply of a
 *  ping that had just ended (5 captures in 70 under load). A packet is in the ring before ping or
 *  anyone on the host receives it, and tcpdump sleeps in poll() only when the ring holds nothing
 *  unread (a new packet wakes it: state R): so SIGINT waits while tcpdump is runnable. It prints
 *  its statistics ("N packets captured") when its capture loop ends, and with -U every packet is
 *  in the file by then. Its exit is not waited for: closing a packet socket costs the kernel another 20–30 ms
 *  (an RCU grace period), and tcpdump is gone moments later on its own. SIGKILL if it has not
 *  finished within the grace. Then, when kept, its log on stderr and the pcap in base64 on
 *  stdout; the files are removed either way. */
export function stopScript(pid: number, base: string, keep: boolean): string {
  const polls = Math.ceil(STOP_GRACE_SECONDS / POLL_SECONDS)
  return [
    'n=0',
    `while read -r _ _ state _ 2>/dev/null < /proc/${pid}/stat && [ "$state" = R ] && [ "$n" -lt ${polls} ]; do n=$((n + 1)); sleep ${POLL_SECONDS}; done`,
    `kill -INT ${pid} 2>/dev/null`,
    `finished() { kill -0 ${pid} 2>/dev/null || return 0; while IFS= read -r line; do case $line in *'packets captured'*) return 0;; esac; done < ${base}.log; return 1; }`,
    'n=0',
    'until finished; do',
    `  if [ "$n" -ge ${polls} ]; then kill -KILL ${pid} 2>/dev/null; break; fi`,
    `  n=$((n + 1)); sleep ${POLL_SECONDS}`,
    'done',
    ...(keep ? [`cat ${base}.log >&2`, `base64 < ${base}.pcap`, 'status=$?'] : ['status=0']),
    `rm -f ${base}.pcap ${base}.log`,
    'exit $status',
  ].join('\n')
}

/** Start every capture, side by side; if one fails, those that started are discarded. */
export async function startCaptures(lab: Lab, specs: CaptureSpec[]): Promise<RunningCapture[]> {
  const results = await Promise.allSettled(specs.map((spec) => RunningCapture.start(lab, spec)))
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (!failed) return started
  await Promise.all(started.map((c) => c.discard()))
  throw failed.reason
}
