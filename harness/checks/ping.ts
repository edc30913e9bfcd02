// ping: reachable or not, packet loss, and the exact TTL of every reply, proven twice: from
// what ping printed and from the echo replies captured where the ping was sent.
import { withCaptures } from '../capture/evidence.ts'
import type { CaptureSpec } from '../capture/tcpdump.ts'
import { matchPacket } from '../capture/pattern.ts'
import { outerIpv4 } from '../capture/pcap.ts'
import { shellQuote } from '../host.ts'
import { describePing, firstRequests, parsePing, type PingSummary } from '../parse/ping.ts'
import { PING_BOUNDS, PORTABLE_PING_INTERVAL } from '../scenario/bounded.ts'
import { interfaceName, ipv4, target } from '../scenario/fields.ts'
import type { StepContext } from '../scenario/step-context.ts'
import { z } from 'zod'
import { CheckFailure, Mismatches } from './check-failure.ts'
import { defineCheck, SHELL_ARG } from './kind.ts'

const schema = z.strictObject({
  from: target,
  to: ipv4,
  reachable: z.boolean().default(true),
  ttl: z.number().int().min(0).max(255).optional(),
  /** Packet loss in percent, e.g. 0. */
  loss: z.number().min(0).max(100).optional(),
  count: z.number().int().min(1).max(100).default(3),
  /** ping -I: send from this interface. */
  interface: interfaceName.optional(),
})
export type PingCheck = z.output<typeof schema>

/** The ping a check sends. By default at the pace any user may send (grading runs as the
 *  student's login); in a lab, where labproof is root, at the lab's pace (PING_BOUNDS). After
 *  the last request, ping waits `waitS` for replies when none has come (-W). */
export function pingCommand(c: Pick<PingCheck, 'to' | 'count' | 'interface'>, interval = PORTABLE_PING_INTERVAL, waitS = PING_BOUNDS.deadline): string {
  return `ping -c ${c.count} -i ${interval} -W ${waitS}${interfaceOption(c)} ${c.to}`
}

/** For a claim about loss: ping ends as soon as `count` replies are in, and otherwise at a
 *  deadline that gives every request at least PING_BOUNDS.deadline (-w). Without -w, ping
 *  gives the last reply only max(2 × the slowest round trip, the interval), so at 10 ms a reply
 *  delayed by a loaded machine would count as lost. Until the deadline ping keeps sending:
 *  loss is judged on the first `count` requests (firstRequests). */
export function pingUntilAnsweredCommand(c: Pick<PingCheck, 'to' | 'count' | 'interface'>, interval: number): string {
  const deadline = Math.ceil(PING_BOUNDS.deadline + interval * (c.count - 1))
  return `ping -c ${c.count} -i ${interval} -w ${deadline}${interfaceOption(c)} ${c.to}`
}

function interfaceOption(c: Pick<PingCheck, 'interface'>): string {
  return c.interface ? ` -I ${shellQuote(c.interface)}` : ''
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

/** Where a ping check captures: every interface where the ping is sent, its ICMP alone. */
function pingCaptures(c: PingCheck): CaptureSpec[] {
  return [{ on: `${c.from}:any`, filter: `icmp and host ${c.to}` }]
}

async function runPingCheck(c: PingCheck, ctx: StepContext): Promise<string> {
  const [spec] = pingCaptures(c)
  const point = spec!.on
  const interval = PING_BOUNDS.interval
  const noReplyWait = c.reachable === false ? ` (${ctx.replyWait.describe()})` : ''
  const command = c.loss !== undefined ? pingUntilAnsweredCommand(c, interval)
    : c.reachable === false ? pingCommand(c, interval, ctx.replyWait.seconds)
    : pingCommand(c, interval)
  const { result: r, evidence } = await withCaptures(ctx, [spec!], () => {
    const running = ctx.run(c.from, command)
    // A claim of no reply lets the scenario go on while it waits (engine/run-ahead.ts).
    if (c.reachable === false) ctx.goOn()
    return running
  })
  const sent = parsePing(r.stdout + r.stderr)
  ctx.replyWait.note(sent)
  const p = c.loss !== undefined ? firstRequests(sent, c.count) : sent
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
  if (!c.reachable) {
    // Also after ping gave up: the window closes only once tcpdump has caught up after ping
    // ended, so a reply slower than the wait still shows here.
    const replies = evidence.captures.get(point)!.packets.filter((pkt) => matchPacket(pkt, { proto: 'icmp', icmp: 'echo-reply', src: c.to }))
    if (replies.length) {
      throw new CheckFailure(`no echo reply from ${c.to} on the wire at ${point}`, `${replies.length} captured, which ping did not count`, `packets on ${point}:\n${evidence.decode(point)}`)
    }
    wire = '; on the wire: no echo reply'
  }
  return `ping ${c.to} from ${c.from}: ${describePing(p)}${wire}${noReplyWait}`
}

/** Grading judges a ping by what ping prints (replies, loss, the TTL of every reply), which is
 *  what a student sees: a capture would start a process and write a file on their machine. */
async function gradePing(c: PingCheck, ctx: StepContext): Promise<string> {
  const r = await ctx.run(c.from, pingCommand(c))
  const p = parsePing(r.stdout + r.stderr)
  assertPing(p, c, `ping ${c.to} from ${c.from}`, r.stdout + r.stderr)
  return `ping ${c.to} from ${c.from}: ${describePing(p)}`
}

export default defineCheck({
  name: 'ping',
  description: 'an address answers pings (or not) from a host or namespace, with the loss and the TTL of every reply, proven on the wire',
  schema,
  targets: ['from'],
  requires: { tools: ['ping', 'tcpdump'] },
  title: (c) => `ping ${c.to} from ${c.from}${c.reachable === false ? ' fails' : ''}${c.ttl !== undefined ? ` (ttl ${c.ttl})` : ''}`,
  captures: pingCaptures,
  run: runPingCheck,
  grading: {
    probes: [new RegExp(String.raw`^ping -c \d+ -i [\d.]+ -W \d+(?: -I ${SHELL_ARG})? [\d.]+$`)],
    tools: ['ping'],
    subject: (c) => [c.from, c.to, c.interface],
    notGradable: (c, machine) => {
      const node = machine.otherNodes.get(c.to)
      if (node === machine.internet) return `pings ${c.to}, the lab's simulated internet host; from a real machine that would be the real internet`
      if (node) return `pings ${c.to}, the address of ${node}, a machine this grading does not control`
      return undefined
    },
    run: gradePing,
  },
})
