// Captures as evidence: run something with tcpdump listening on the given interfaces (a window
// of the lab's kept captures, capture-set.ts), then attach each pcap (application/vnd.tcpdump.pcap,
// opens in Wireshark) and its one-line-per-packet decode to the step, and hand back the decoded
// packets for wire checks.
import type { StepContext } from '../scenario/step-context.ts'
import { describeCapture } from './describe.ts'
import { readPcap, type Capture } from './pcap.ts'
import { CaptureSet } from './capture-set.ts'
import type { CaptureSpec, FinishedCapture } from './tcpdump.ts'

export interface Evidence {
  /** Decoded captures by capture point (`host01:ens33`). */
  captures: Map<string, Capture>
  /** The decode of a capture point, for failure messages. */
  decode(on: string): string
}

/** Captures around `work`: a window of the lab's kept captures (StepContext.captures), or
 *  captures of this step alone. `nested`: the captures of the one window `work` opens first,
 *  before any command, and after whose close it runs none (a check step's check): that window
 *  is marked with this one, and this one is cut with it, in the same requests. */
export async function withCaptures<T>(ctx: StepContext, specs: CaptureSpec[], work: () => Promise<T>, opts: { nested?: CaptureSpec[] } = {}): Promise<{ result: T; evidence: Evidence }> {
  const window = await openCaptures(ctx, specs, opts)
  let result: T
  try {
    result = await work()
  } finally {
    // Read and attached whether the work passed or failed: the packets explain a failure.
    await window.close()
  }
  return { result, evidence: evidenceOf(ctx) }
}

/** Per step, the close of a window that ends when the window nested in it does (withCaptures'
 *  `nested`), while that one is open. */
const closesWithNested = new WeakMap<StepContext, () => Promise<unknown>>()

/** Open a window on the captures the specs name; close() reads it, decodes each pcap into
 *  ctx.captured and attaches it with its decode to the step. */
export async function openCaptures(ctx: StepContext, specs: CaptureSpec[], opts: { nested?: CaptureSpec[] } = {}): Promise<{ close(): Promise<Evidence> }> {
  const nested = ctx.captures && opts.nested?.length ? opts.nested : undefined
  const window = await (ctx.captures ?? new CaptureSet(ctx.lab, true)).open(specs, nested ? { next: nested } : {})
  let cut: Promise<FinishedCapture[]> | undefined
  const cutOnce = () => (cut ??= window.close())
  const enclosing = closesWithNested.get(ctx)
  closesWithNested.delete(ctx)
  if (nested) closesWithNested.set(ctx, cutOnce)
  return {
    close: async () => {
      if (closesWithNested.get(ctx) === cutOnce) closesWithNested.delete(ctx)
      // The window around this one is cut with it (its failure is told by its own close).
      void enclosing?.().catch(() => undefined)
      for (const f of await cutOnce()) {
        ctx.captured.set(f.spec.on, readPcap(f.pcap, { source: f.spec.on }))
        const name = `capture ${f.spec.on}${f.spec.filter ? ` (${f.spec.filter})` : ''}`
        ctx.attachments.push({ name: `${name}.pcap`, content: f.pcap, contentType: 'application/vnd.tcpdump.pcap', fileExtension: 'pcap' })
        const lines = describeCapture(ctx.captured.get(f.spec.on)!)
        ctx.attachments.push({ name: `${name} decoded`, content: [...lines, '', f.tcpdumpLog].join('\n'), contentType: 'text/plain', fileExtension: 'txt' })
      }
      return evidenceOf(ctx)
    },
  }
}

export function evidenceOf(ctx: StepContext): Evidence {
  return {
    captures: ctx.captured,
    decode: (on) => {
      const c = ctx.captured.get(on)
      if (!c) return `(nothing captured on ${on})`
      return c.packets.length ? describeCapture(c).map((l) => `  ${l}`).join('\n') : `  (no packets on ${on})`
    },
  }
}
