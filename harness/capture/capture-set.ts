// Evidence gathered once: one tcpdump per capture point and filter a lab's steps read, started
// the first time a step needs it (or ahead of that step) and kept for the lab's life, instead of a
// tcpdump per step. A step opens a window (a mark of every capture it reads) before its work and
// closes it after: the packets written between the two marks are the step's, cut from the long
// capture, so each step's pcap holds what a capture of its own would have held.
//
// The marks are byte offsets in tcpdump's file taken once tcpdump has caught up with its ring
// (tcpdump.ts, catchUpLines): ordered by what the capture itself saw, with no clock to compare
// across hosts. A capture in a namespace keeps that namespace alive, so the captures in a host's
// namespaces are ended before a document command that may delete one (`ip netns del`); a capture
// whose interface was deleted has ended by itself, and the next window starts a new one.
//
// A capture is made through the filter its windows read it through (a point read through two
// filters has a capture for each): a cut is the file's bytes between two marks, with no tcpdump
// reading them back, and a filter tcpdump refuses fails the window's start.
import type { Lab } from '../lab.ts'
import { NOT_AHEAD, parseCapturePoint, PCAP_HEADER_BYTES, RunningCapture, type CaptureSpec, type FinishedCapture } from './tcpdump.ts'

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

/** One capture per point and filter: its key. */
function keyOf(spec: CaptureSpec): string {
  return `${spec.on}\n${spec.filter ?? ''}`
}

export interface CaptureWindow {
  /** Each spec's packets since the window opened; `stop` also ends the captures (a set of one
   *  step). Whatever happens, each capture is read once. */
  close(): Promise<FinishedCapture[]>
}

export class CaptureSet {
  /** By point and filter (keyOf). */
  private readonly running = new Map<string, Promise<RunningCapture>>()
  /** Captures tried ahead for a step that did not start (not made yet, or on an interface where
   *  promiscuity matters): by key, the step they were tried for, not tried again for it. */
  private readonly triedAhead = new Map<string, number | undefined>()
  /** Points the host would not capture ahead (promiscuous mode matters there): not asked again. */
  private readonly notAhead = new Set<string>()

  /** @param perWindow end each capture when its window closes (grading, tests: a capture of
   *  one step, as a single tcpdump per step did). */
  constructor(private readonly lab: Lab, private readonly perWindow = false) {}

  /** Marks taken for a window that opens next, with nothing run in between (open's `next`),
   *  by key: that window's open takes them instead of marking again. */
  private readonly premarked = new Map<string, Promise<{ capture: RunningCapture; from: number }>>()

  /** Make sure a capture runs at each spec's point through its filter and has caught up, and
   *  mark where each stands: the window's packets are those written after this. `next`: the
   *  specs of a window the caller opens right after this one, with no command in between (a
   *  check's own, inside its step's window): marked in the same requests; what that window has
   *  not taken by the time this one closes is dropped. */
  async open(specs: CaptureSpec[], opts: { next?: CaptureSpec[] } = {}): Promise<CaptureWindow> {
    const merged = mergeSpecs(specs)
    // This window's own first: a capture it shares with the next is marked for each.
    const own = merged.map(async (spec) => ({ spec, ...(await this.markAt(spec)) }))
    const premarks = this.perWindow ? [] : mergeSpecs(opts.next ?? []).map((spec) => {
      const marked = this.markAt(spec)
      marked.catch(() => undefined)
      this.premarked.set(keyOf(spec), marked)
      return [keyOf(spec), marked] as const
    })
    const dropPremarks = () => premarks.forEach(([key, marked]) => this.premarked.get(key) === marked && this.premarked.delete(key))
    const settled = await Promise.allSettled(own)
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    const marks = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
    if (failed) {
      dropPremarks()
      if (this.perWindow) await Promise.all(marks.map((m) => this.end(keyOf(m.spec), m.capture)))
      throw failed.reason
    }
    return {
      close: () => (dropPremarks(), Promise.all(marks.map(async ({ spec, capture, from }) => {
        const stop = this.perWindow
        if (stop) this.running.delete(keyOf(spec))
        const cut = await capture.cut(from, { stop })
        const note = `${stop ? 'the capture' : `packets cut from the capture kept`} on ${spec.on}${spec.filter ? `, filter "${spec.filter}"` : ''}` +
          `${cut.end.running ? '' : '; tcpdump there had ended (its interface is gone)'}`
        return { spec, pcap: cut.pcap, tcpdumpLog: note }
      }))),
    }
  }

  /** Start, in the background, the captures the window of step `forStep` will read, so it finds
   *  them listening and only marks where they stand. Only where starting early changes nothing
   *  the steps before can see: `any` points, and interfaces that see every frame without
   *  promiscuous mode (veth, tun/tap: captured with -p, tcpdump.ts); the host tells. A start that
   *  fails (the namespace or interface is not made yet) is not tried again for the same step;
   *  the window starts its own. */
  prestart(specs: CaptureSpec[], forStep?: number): void {
    if (this.perWindow) return
    for (const spec of mergeSpecs(specs)) {
      const key = keyOf(spec)
      if (!this.wouldStartAhead(spec, forStep)) continue
      const started = this.start(spec, true)
      started.catch((error: unknown) => {
        if (String(error).includes(NOT_AHEAD)) this.notAhead.add(spec.on)
        this.triedAhead.set(key, forStep)
        if (this.running.get(key) === started) this.running.delete(key)
      })
    }
  }

  /** Whether prestart(spec, forStep) would start anything: not running, not tried for it. */
  wouldStartAhead(spec: CaptureSpec, forStep?: number): boolean {
    const key = keyOf(spec)
    return !this.perWindow && !this.running.has(key) && !this.notAhead.has(spec.on) && !(this.triedAhead.has(key) && this.triedAhead.get(key) === forStep)
  }

    /** End the captures inside `host`'s network namespaces (before a command that may delete
   *  one: a capture would keep it alive). */
  async endInNamespaces(host: string): Promise<void> {
    const keys = [...this.running.keys()].filter((key) => {
      const p = parseCapturePoint(key.split('\n')[0]!)
      return p.host === host && p.netns !== undefined
    })
    await Promise.all(keys.map(async (key) => this.end(key, await this.running.get(key)!.catch(() => undefined))))
  }

  /** End every capture (before the lab goes down). */
  async endAll(): Promise<void> {
    const all = [...this.running]
    this.running.clear()
    await Promise.all(all.map(async ([, started]) => (await started.catch(() => undefined))?.discard().catch(() => undefined)))
  }

  private async end(key: string, capture: RunningCapture | undefined): Promise<void> {
    this.running.delete(key)
    await capture?.discard().catch(() => undefined)
  }

  /** The capture at the spec's point through its filter, started (listening) or caught up, and
   *  where it stands. A capture that has ended (its interface was deleted) is replaced. */
  private async markAt(spec: CaptureSpec): Promise<{ capture: RunningCapture; from: number }> {
    const key = keyOf(spec)
    const premarked = this.premarked.get(key)
    if (premarked) {
      this.premarked.delete(key)
      return premarked
    }
    const existing = this.running.get(key)
    // A capture started ahead that failed (prestart) is started again here, its failure told.
    const capture = await existing?.catch(() => undefined)
    if (existing && !capture && this.running.get(key) === existing) this.running.delete(key)
    if (capture) {
      const mark = await capture.mark()
      if (mark.running) return { capture, from: mark.offset }
      await this.end(key, capture)
    }
    const started = this.start(spec, false)
    try {
      return { capture: await started, from: PCAP_HEADER_BYTES }
    } catch (error) {
      if (this.running.get(key) === started) this.running.delete(key)
      throw error
    }
  }

  /** Start a capture at the spec's point through its filter, kept in `running`; `ahead`: only
   *  where an early start changes nothing (prestart). */
  private start(spec: CaptureSpec, ahead: boolean): Promise<RunningCapture> {
    const started = RunningCapture.start(this.lab, spec, { ahead })
    this.running.set(keyOf(spec), started)
    return started
  }
}
