// Evidence gathered once: one tcpdump per capture point a lab's steps need, started the first
// time a step needs it and kept for the lab's life, instead of a tcpdump per step. A step opens a
// window (a mark of every capture it reads) before its work and closes it after: the packets
// written between the two marks are the step's, cut from the long capture and read back through
// the step's own filter, so each step's pcap holds what a capture of its own would have held.
//
// The marks are byte offsets in tcpdump's file taken once tcpdump has caught up with its ring
// (tcpdump.ts, catchUpLines): ordered by what the capture itself saw, with no clock to compare
// across hosts. A capture in a namespace keeps that namespace alive, so the captures in a host's
// namespaces are ended before a document command that may delete one (`ip netns del`); a capture
// whose interface was deleted has ended by itself, and the next window starts a new one.
//
// A point that every window of the scenario reads through the same filter (the plan says so:
// capturePlan) is captured through that filter, so its windows need no reading back through
// tcpdump: the same packets, one tcpdump less per window. A window that asks such a capture for
// anything else (the plan missed it) ends it and starts the point afresh, unfiltered.
import type { Lab } from '../lab.ts'
import { parseCapturePoint, PCAP_HEADER_BYTES, RunningCapture, type CaptureSpec, type FinishedCapture } from './tcpdump.ts'

/** Same capture point twice is one capture; their filters are or-ed. */
export function mergeSpecs(specs: CaptureSpec[]): CaptureSpec[] {
  const byPoint = new Map<string, string[] | undefined>()
  for (const s of specs) {
    const filters = byPoint.has(s.on) ? byPoint.get(s.on) : []
    // One capture without a filter takes everything at that point.
    byPoint.set(s.on, filters === undefined || s.filter === undefined ? undefined : [...new Set([...filters, s.filter])])
  }
  return [...byPoint].map(([on, f]) => (f && f.length ? { on, filter: f.length === 1 ? f[0]! : f.map((x) => `(${x})`).join(' or ') } : { on }))
}

/** A document command that may delete a network namespace (`ip netns del`, `ip -all netns
 *  delete`, `ip netns d`): the captures inside that host's namespaces end before it. */
export function mayDeleteNamespace(command: string): boolean {
  return /\bnetns\s+d[a-z]*\b|-all\s+netns\b/.test(command)
}

/** Per capture point, the one filter every window reads it through (points read through
 *  several filters, or none, are left out): `windows` holds each window's specs. */
export function capturePlan(windows: CaptureSpec[][]): Map<string, string> {
  const filters = new Map<string, Set<string | undefined>>()
  for (const spec of windows.flatMap(mergeSpecs)) {
    if (!filters.has(spec.on)) filters.set(spec.on, new Set())
    filters.get(spec.on)!.add(spec.filter)
  }
  return new Map([...filters].flatMap(([on, f]) => {
    const [only] = f
    return f.size === 1 && only !== undefined ? [[on, only] as const] : []
  }))
}

export interface CaptureWindow {
  /** Each spec's packets since the window opened; `stop` also ends the captures (a set of one
   *  step). Whatever happens, each capture is read once. */
  close(): Promise<FinishedCapture[]>
}

export class CaptureSet {
  private readonly running = new Map<string, Promise<RunningCapture>>()

  /** Points every window reads through one filter (capturePlan): captured through it. */
  private readonly throughOne: Map<string, string>

  /** @param perWindow end each capture when its window closes (grading, tests: a capture of
   *  one step, as a single tcpdump per step did).
   *  @param plan what capturePlan says of the scenario's windows (none: every kept capture
   *  takes everything at its point). */
  constructor(private readonly lab: Lab, private readonly perWindow = false, plan: Map<string, string> = new Map()) {
    this.throughOne = new Map(plan)
  }

  /** Make sure a capture runs at each spec's point and has caught up, and mark where each
   *  stands: the window's packets are those written after this. */
  async open(specs: CaptureSpec[]): Promise<CaptureWindow> {
    const merged = mergeSpecs(specs)
    const settled = await Promise.allSettled(merged.map(async (spec) => ({ spec, ...(await this.markAt(spec)) })))
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    const marks = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
    if (failed) {
      if (this.perWindow) await Promise.all(marks.map((m) => this.end(m.spec.on, m.capture)))
      throw failed.reason
    }
    return {
      close: () => Promise.all(marks.map(async ({ spec, capture, from }) => {
        const stop = this.perWindow
        if (stop) this.running.delete(spec.on)
        // Read back through the window's filter unless the capture was made through it.
        const cut = await capture.cut(from, capture.spec.filter === spec.filter ? undefined : spec.filter, { stop })
        const note = `${stop ? 'the capture' : `packets cut from the capture kept`} on ${spec.on}${spec.filter ? `, filter "${spec.filter}"` : ''}` +
          `${cut.end.running ? '' : '; tcpdump there had ended (its interface is gone)'}`
        return { spec, pcap: cut.pcap, tcpdumpLog: note }
      })),
    }
  }

  /** Start, in the background, the captures a coming step will read, so its window finds them
   *  listening and only marks where they stand. Only `any` points: a capture on one interface
   *  makes it promiscuous, which the steps before must not see. A start that fails (the
   *  namespace is not made yet) is forgotten; the window starts its own. */
  prestart(specs: CaptureSpec[]): void {
    if (this.perWindow) return
    for (const spec of mergeSpecs(specs)) {
      if (this.running.has(spec.on) || parseCapturePoint(spec.on).iface !== 'any') continue
      const started = this.start(spec)
      started.catch(() => this.running.get(spec.on) === started && this.running.delete(spec.on))
    }
  }

  /** End the captures inside `host`'s network namespaces (before a command that may delete
   *  one: a capture would keep it alive). */
  async endInNamespaces(host: string): Promise<void> {
    const points = [...this.running.keys()].filter((on) => {
      const p = parseCapturePoint(on)
      return p.host === host && p.netns !== undefined
    })
    await Promise.all(points.map(async (on) => this.end(on, await this.running.get(on)!.catch(() => undefined))))
  }

  /** End every capture (before the lab goes down). */
  async endAll(): Promise<void> {
    const all = [...this.running]
    this.running.clear()
    await Promise.all(all.map(async ([, started]) => (await started.catch(() => undefined))?.discard().catch(() => undefined)))
  }

  private async end(on: string, capture: RunningCapture | undefined): Promise<void> {
    this.running.delete(on)
    await capture?.discard().catch(() => undefined)
  }

  /** The capture at the spec's point, started (listening) or caught up, and where it stands. A
   *  capture that has ended (its interface was deleted) is replaced by a new one. */
  private async markAt(spec: CaptureSpec): Promise<{ capture: RunningCapture; from: number }> {
    const existing = this.running.get(spec.on)
    // A capture started ahead that failed (prestart) is started again here, its failure told.
    const capture = await existing?.catch(() => undefined)
    if (existing && !capture && this.running.get(spec.on) === existing) this.running.delete(spec.on)
    if (capture) {
      if (capture.spec.filter === undefined || capture.spec.filter === spec.filter) {
        const mark = await capture.mark()
        if (mark.running) return { capture, from: mark.offset }
      } else {
        // Captured through another filter than this window's: it lacks packets this one reads.
        this.throughOne.delete(spec.on)
      }
      await this.end(spec.on, capture)
    }
    const started = this.start(spec)
    try {
      return { capture: await started, from: PCAP_HEADER_BYTES }
    } catch (error) {
      if (this.running.get(spec.on) === started) this.running.delete(spec.on)
      throw error
    }
  }

  /** Start a capture at the spec's point, kept in `running`. Unfiltered when kept, unless every
   *  window reads this point through the same filter: later steps read it through filters of
   *  their own. A capture of one window filters as it captures (a bad filter fails its start). */
  private start(spec: CaptureSpec): Promise<RunningCapture> {
    const filter = this.perWindow || this.throughOne.get(spec.on) === spec.filter ? spec.filter : undefined
    const started = RunningCapture.start(this.lab, { on: spec.on, ...(filter !== undefined ? { filter } : {}) })
    this.running.set(spec.on, started)
    return started
  }
}
