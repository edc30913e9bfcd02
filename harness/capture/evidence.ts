// Captures as evidence: run something with tcpdump listening on the given interfaces, then
// attach each pcap (application/vnd.tcpdump.pcap, opens in Wireshark) and its one-line-per-packet
// decode to the step, and hand back the decoded packets for wire checks.
import type { StepContext } from '../scenario/step-context.ts'
import { describeCapture } from './describe.ts'
import { readPcap, type Capture } from './pcap.ts'
import { startCaptures, type CaptureSpec } from './tcpdump.ts'

export interface Evidence {
  /** Decoded captures by capture point (`host01:ens33`). */
  captures: Map<string, Capture>
  /** The decode of a capture point, for failure messages. */
  decode(on: string): string
}

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

export async function withCaptures<T>(ctx: StepContext, specs: CaptureSpec[], work: () => Promise<T>): Promise<{ result: T; evidence: Evidence }> {
  const running = await startCaptures(ctx.lab, mergeSpecs(specs))
  let result: T
  try {
    result = await work()
  } finally {
    // Stopped and attached whether the work passed or failed: the packets explain a failure.
    const finished = await Promise.all(running.map((c) => c.stop()))
    for (const f of finished) {
      ctx.captured.set(f.spec.on, readPcap(f.pcap, { source: f.spec.on }))
      const name = `capture ${f.spec.on}${f.spec.filter ? ` (${f.spec.filter})` : ''}`
      ctx.attachments.push({ name: `${name}.pcap`, content: f.pcap, contentType: 'application/vnd.tcpdump.pcap', fileExtension: 'pcap' })
      const lines = describeCapture(ctx.captured.get(f.spec.on)!)
      ctx.attachments.push({ name: `${name} decoded`, content: [...lines, '', f.tcpdumpLog].join('\n'), contentType: 'text/plain', fileExtension: 'txt' })
    }
  }
  return { result, evidence: evidenceOf(ctx) }
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
