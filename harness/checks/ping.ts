// ping: reachable or not, packet loss, and the exact TTL of every reply, proven twice: from
// what ping printed and from the echo replies captured where the ping was sent.
import { withCaptures } from '../capture/evidence.ts'
import { matchPacket } from '../capture/pattern.ts'
import { outerIpv4 } from '../capture/pcap.ts'
import { shellQuote } from '../host.ts'
import { describePing, parsePing, type PingSummary } from '../parse/ping.ts'
import { PING_BOUNDS, PORTABLE_PING_INTERVAL } from '../scenario/bounded.ts'
import type { PingCheck } from '../scenario/schema.ts'
import type { StepContext } from '../scenario/step-context.ts'
import { CheckFailure, Mismatches } from './check-failure.ts'

/** The ping a check sends. By default at the pace any user may send (grading runs as the
 *  student's login); in a lab, where labproof is root, at the lab's pace (PING_BOUNDS). */
export function pingCommand(c: Pick<PingCheck, 'to' | 'count' | 'interface'>, interval = PORTABLE_PING_INTERVAL): string {
  const iface = c.interface ? ` -I ${shellQuote(c.interface)}` : ''
  return `ping -c ${c.count} -i ${interval} -W ${PING_BOUNDS.deadline}${iface} ${c.to}`
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
  const point = `${c.from}:any`
  // After its last request, ping waits for replies only max(2 × the slowest round trip, the
  // interval): at 10 ms a reply delayed by a loaded machine would count as lost. A claim about
  // loss is sent at the portable pace, which gives the last reply 200 ms.
  const interval = c.loss !== undefined ? PORTABLE_PING_INTERVAL : PING_BOUNDS.interval
  const { result: r, evidence } = await withCaptures(ctx, [{ on: point, filter: `icmp and host ${c.to}` }], () => ctx.run(c.from, pingCommand(c, interval)))
  const p = parsePing(r.stdout + r.stderr)
  assertPing(p, c, `ping ${c.to} from ${c.from}`, r.stdout + r.stderr)
  let wire = ''
  if (c.reachable && c.ttl !== undefined) {
    const replies = evidence.captures.get(point)!.packets.filter((pkt) => matchPacket(pkt, { proto: 'icmp', icmp: 'echo-reply', src: c.to }))
    const ttls = replies.map((pkt) => outerIpv4(pkt)!.ttl)
    if (replies.length === 0 || ttls.some((t) => t !== c.ttl)) {
      throw new CheckFailure(`echo replies from ${c.to} with ttl ${c.ttl} on the wire at ${point}`,
        replies.length ? `ttl ${[...new Set(ttls)].join(',')}` : 'no echo reply captured', `packets on ${point}:\n${evidence.decode(point)}`)
    }
    wire = `; on the wire: ${replies.length} echo replies with ttl ${c.ttl}`
  }
  return `ping ${c.to} from ${c.from}: ${describePing(p)}${wire}`
}
