// Capture control: tcpdump on any interface of any host or namespace, started before a step and
// stopped after it (also when the step fails), with the pcap brought home through the host API.
//
// tcpdump runs inside the host, so it dies with the host whatever happens to labproof; stop()
// interrupts it (packets flushed: -U writes each packet as it comes), waits until it is gone,
// copies the file home and removes it from the host.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
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
/** Local copies are made in `labproof-pcap-<pid>-…`: `labproof clean` removes those of a dead process. */
export const PCAP_TEMP_PREFIX = 'labproof-pcap-'
const READY_TIMEOUT_MS = 5_000
let counter = 0

export class RunningCapture {
  private constructor(
    readonly spec: CaptureSpec,
    private readonly host: Host,
    private readonly pid: number,
    private readonly remoteBase: string,
  ) {}

  static async start(lab: Lab, spec: CaptureSpec): Promise<RunningCapture> {
    const point = parseCapturePoint(spec.on)
    const host = lab.host(point.host)
    const base = `${REMOTE_DIR}/${process.pid}-${Date.now().toString(36)}-${counter++}`
    // -U and --immediate-mode: each packet is delivered and written as it arrives (else the last
    // batch is lost on stop); -s 262: headers only, enough for every check and a
    // few KB per capture; -n: no name lookups (nothing may leave the lab).
    const filter = spec.filter ? ` ${shellQuote(spec.filter)}` : ''
    const cmd = `mkdir -p ${REMOTE_DIR} && { tcpdump -n -U --immediate-mode -s 262 -i ${shellQuote(point.iface)} -w ${base}.pcap${filter} >/dev/null 2>${base}.log </dev/null & echo $!; }`
    const r = await host.exec(cmd, { netns: point.netns, timeoutMs: 10_000 })
    const pid = Number(r.stdout.trim())
    if (r.exitCode !== 0 || !pid) throw new Error(`could not start tcpdump on ${spec.on}: ${(r.stderr || r.stdout).trim()}`)
    const capture = new RunningCapture(spec, host, pid, base)
    // tcpdump says "listening on" once its socket is open; packets before that would be lost.
    const ready = await host.exec(
      `for i in $(seq 100); do grep -q 'listening on' ${base}.log && exit 0; kill -0 ${pid} 2>/dev/null || break; sleep 0.05; done; cat ${base}.log; exit 1`,
      { timeoutMs: READY_TIMEOUT_MS + 1000 },
    )
    if (ready.exitCode !== 0) {
      await capture.discard()
      throw new Error(`tcpdump did not start on ${spec.on}: ${ready.stdout.trim() || 'no answer within 5 s'}`)
    }
    return capture
  }

  /** Interrupt tcpdump, wait for it to exit, and bring the pcap home. */
  async stop(): Promise<FinishedCapture> {
    await this.interrupt()
    const dir = await mkdtemp(path.join(tmpdir(), `${PCAP_TEMP_PREFIX}${process.pid}-`))
    try {
      const local = path.join(dir, 'capture.pcap')
      await this.host.copyFrom(`${this.remoteBase}.pcap`, local)
      const pcap = await readFile(local)
      const log = await this.host.exec(`cat ${this.remoteBase}.log`)
      return { spec: this.spec, pcap, tcpdumpLog: log.stdout.trim() }
    } finally {
      await rm(dir, { recursive: true, force: true })
      await this.host.exec(`rm -f ${this.remoteBase}.pcap ${this.remoteBase}.log`)
    }
  }

  /** Stop without keeping anything. */
  async discard(): Promise<void> {
    await this.interrupt()
    await this.host.exec(`rm -f ${this.remoteBase}.pcap ${this.remoteBase}.log`)
  }

  private async interrupt(): Promise<void> {
    // SIGINT lets tcpdump flush and close the file; SIGKILL if it does not go within 2 s.
    const r = await this.host.exec(
      `kill -INT ${this.pid} 2>/dev/null; for i in $(seq 40); do kill -0 ${this.pid} 2>/dev/null || exit 0; sleep 0.05; done; kill -KILL ${this.pid}; exit 0`,
      { timeoutMs: 5_000 },
    )
    if (r.exitCode !== 0) throw new Error(`could not stop tcpdump (pid ${this.pid}) on ${this.spec.on}: ${r.stderr.trim()}`)
  }
}

/** Start every capture; if one fails, those already started are discarded. */
export async function startCaptures(lab: Lab, specs: CaptureSpec[]): Promise<RunningCapture[]> {
  const started: RunningCapture[] = []
  try {
    for (const spec of specs) started.push(await RunningCapture.start(lab, spec))
    return started
  } catch (e) {
    await Promise.all(started.map((c) => c.discard()))
    throw e
  }
}
