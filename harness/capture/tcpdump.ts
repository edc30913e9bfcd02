// Capture control: tcpdump on any interface of any host or namespace, started before a step and
// stopped after it (also when the step fails), with the pcap brought home through the host API.
//
// tcpdump runs inside the host, so it dies with the host whatever happens to labproof. Each
// capture costs two round trips to the host: start() starts it and waits until it listens;
// stop() interrupts it (packets flushed: -U writes each packet as it comes), waits until it has
// finished writing, sends the file home on the command's output and removes it from the host.
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
let counter = 0

export class RunningCapture {
  private constructor(
    readonly spec: CaptureSpec,
    private readonly host: Host,
    private readonly pid: number,
    private readonly remoteBase: string,
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
    return new RunningCapture(spec, host, pid, base)
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
    `tcpdump -n -U --immediate-mode -s 262 -i ${shellQuote(iface)} -w ${base}.pcap${filter ? ` ${shellQuote(filter)}` : ''} >/dev/null 2>${base}.log </dev/null &`,
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
