// ping: reachable or not, packet loss, and the exact TTL of every reply.
import { PING_BOUNDS } from '../scenario/bounded.ts'
import type { PingCheck } from '../scenario/schema.ts'
import type { StepContext } from '../scenario/step-context.ts'
import { describePing, parsePing, type PingSummary } from '../parse/ping.ts'
import { Mismatches } from './check-failure.ts'
import { shellQuote } from '../host.ts'

export function pingCommand(c: Pick<PingCheck, 'to' | 'count' | 'interface'>): string {
  const iface = c.interface ? ` -I ${shellQuote(c.interface)}` : ''
  return `ping -c ${c.count} -i ${PING_BOUNDS.interval} -W ${PING_BOUNDS.deadline}${iface} ${c.to}`
}

/** Compare a parsed ping with what was expected; shared by ping checks and ping steps. */
export function assertPing(p: PingSummary, want: { reachable?: boolean; ttl?: number; loss?: number }, subject: string, output: string): void {
  const m = new Mismatches()
  const reachable = p.received > 0
  if (want.reachable !== undefined && reachable !== want.reachable) {
    m.add(want.reachable ? 'replies' : 'no reply', describePing(p))
  }
  if (want.ttl !== undefined && (p.replies.length === 0 || p.replies.some((r) => r.ttl !== want.ttl))) {
    m.add(`every reply with ttl ${want.ttl}`, p.replies.length ? `ttl ${[...new Set(p.replies.map((r) => r.ttl))].join(',')}` : 'no reply to read a ttl from')
  }
  if (want.loss !== undefined && p.lossPercent !== want.loss) m.add(`${want.loss}% loss`, `${p.lossPercent}% loss`)
  m.throwIfAny(subject, output.trim())
}

export async function runPingCheck(c: PingCheck, ctx: StepContext): Promise<string> {
  const r = await ctx.run(c.from, pingCommand(c))
  const p = parsePing(r.stdout + r.stderr)
  assertPing(p, c, `ping ${c.to} from ${c.from}`, r.stdout + r.stderr)
  return `ping ${c.to} from ${c.from}: ${describePing(p)}`
}
