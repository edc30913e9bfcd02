// Captures as evidence: run something with tcpdump listening on the given interfaces (a window
// of the lab's kept captures, capture-set.ts), then attach each pcap (application/vnd.tcpdump.pcap,
// opens in Wireshark) and its one-line-per-packet decode to the step, and hand back the decoded
// packets for wire checks.
import type { StepContext } from '../scenario/step-context.ts'
import { describeCapture } from './describe.ts'
import { readPcap, type Capture } from './pcap.ts'
import { CaptureSet } from './capture-set.ts'
import type { CaptureSpec } from './tcpdump.ts'

export interface Evidence {
  /** Decoded captures by capture point (`host01:ens33`). */
  captures: Map<string, Capture>
  /** The decode of a capture point, for failure messages. */
  decode(on: string): string
}

/** Captures around `work`: a window of the lab's kept captures (StepContext.captures), or
 *  captures of this step alone. */
export async function withCaptures<T>(ctx: StepContext, specs: CaptureSpec[], work: () => Promise<T>): Promise<{ result: T; evidence: Evidence }> {
  const window = await openCaptures(ctx, specs)
  let result: T
  try {
    result = await work()
  } finally {
    // Read and attached whether the work passed or failed: the packets explain a failure.
    await window.close()
  }
  return { result, evidence: evidenceOf(ctx) }
}

/** Open a window on the captures the specs name; close() reads it, decodes each pcap into
 *  ctx.captured and attaches it with its decode to the step. */
export async function openCaptures(ctx: StepContext, specs: CaptureSpec[]): Promise<{ close(): Promise<Evidence> }> {
  const window = await (ctx.captures ?? new CaptureSet(ctx.lab, true)).open(specs)
  return {
    close: async () => {
      for (const f of await window.close()) {
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
