// nat: from a private namespace to an address on the simulated internet, proven on the wire at
// the internet host. Masqueraded: the internet sees only the host's underlay address as source
// and answers it. Not masqueraded: it sees the private source and sends no reply (it has no
// route back), and the ping gets nothing.
import { withCaptures } from '../capture/evidence.ts'
import type { CaptureSpec } from '../capture/tcpdump.ts'
import { matchPacket } from '../capture/pattern.ts'
import { outerIpv4 } from '../capture/pcap.ts'
import { describePing, parsePing } from '../parse/ping.ts'
import { z } from 'zod'
import { PING_BOUNDS } from '../scenario/bounded.ts'
import { ipv4, target } from '../scenario/fields.ts'
import type { StepContext } from '../scenario/step-context.ts'
import { stripPrefix } from '../topology.ts'
import { Mismatches } from './check-failure.ts'
import { defineCheck } from './kind.ts'
import { assertPing, pingCommand } from './ping.ts'

const schema = z.strictObject({
  /** The private side: usually a namespace behind a host, `host01/ns1`. */
  from: target,
  /** An address on the simulated internet, `8.8.8.8`. */
  to: ipv4,
  /** true: replies come back and the internet host sees the host's underlay address as
   *  source, never the private one. false: the internet host sees the private source and no
   *  reply comes back. */
  masqueraded: z.boolean(),
})
export type NatCheck = z.output<typeof schema>

export const INTERNET_CAPTURE_POINT = 'internet:eth0'

/** Where a NAT check captures: the internet host's side, the ICMP of the pinged address. */
function natCaptures(c: NatCheck): CaptureSpec[] {
  return [{ on: INTERNET_CAPTURE_POINT, filter: `icmp and host ${c.to}` }]
}

async function runNatCheck(c: NatCheck, ctx: StepContext): Promise<string> {
  const hostName = c.from.split('/')[0]!
  const spec = ctx.lab.topology.hosts.find((h) => h.name === hostName)
  if (!spec) throw new Error(`${hostName} is not a host of this lab`)
  const publicAddress = stripPrefix(spec.underlayAddress)
  const point = INTERNET_CAPTURE_POINT
  const noReplyWait = c.masqueraded ? '' : ` (${ctx.replyWait.describe()})`
  const command = pingCommand({ to: c.to, count: 3 }, PING_BOUNDS.interval, c.masqueraded ? PING_BOUNDS.deadline : ctx.replyWait.seconds)
  const { result: r, evidence } = await withCaptures(ctx, natCaptures(c), () => ctx.run(c.from, command))
  const p = parsePing(r.stdout + r.stderr)
  ctx.replyWait.note(p)
  const subject = `${c.to} from ${c.from} ${c.masqueraded ? 'through NAT' : 'without NAT'}`
  assertPing(p, { reachable: c.masqueraded }, subject, r.stdout + r.stderr)

  const packets = evidence.captures.get(point)!.packets
  const requests = packets.filter((pkt) => matchPacket(pkt, { proto: 'icmp', icmp: 'echo-request', dst: c.to }))
  const replies = packets.filter((pkt) => matchPacket(pkt, { proto: 'icmp', icmp: 'echo-reply', src: c.to }))
  const sources = [...new Set(requests.map((pkt) => outerIpv4(pkt)!.src))]
  const m = new Mismatches()
  if (requests.length === 0) m.add(`echo requests to ${c.to} at the internet host`, 'none arrived')
  if (c.masqueraded) {
    if (sources.some((s) => s !== publicAddress)) m.add(`only ${hostName}'s underlay address ${publicAddress} as source`, `sources ${sources.join(', ')}`)
    if (replies.length === 0) m.add(`echo replies to ${publicAddress}`, 'none sent')
  } else {
    if (sources.includes(publicAddress)) m.add('the private source address, not rewritten', `${publicAddress} (masqueraded)`)
    if (replies.length > 0) m.add('no echo reply (no route back to a private source)', `${replies.length} replies sent`)
  }
  m.throwIfAny(`${subject}, seen at the internet host`, `packets on ${point}:\n${evidence.decode(point)}`)
  return `${subject}: ${describePing(p)}; the internet host saw source ${sources.join(', ')} and sent ${replies.length} replies${noReplyWait}`
}

export default defineCheck({
  name: 'nat',
  description: "a namespace's pings to the simulated internet are masqueraded behind its host (or not), seen at the internet host",
  schema,
  targets: ['from'],
  requires: { tools: ['ping', 'tcpdump'] },
  title: (c) => `${c.to} from ${c.from} ${c.masqueraded ? 'masqueraded' : 'not masqueraded'}`,
  captures: natCaptures,
  run: runNatCheck,
  grading: {
    // Never sent: a student's machine is not behind the lab's gateway (notGradable).
    probes: [],
    tools: ['ping'],
    subject: (c) => [c.from, c.to],
    notGradable: (c) => `needs the lab's simulated internet host (${c.to}) behind a gateway that has no route back to private subnets; ` +
      'a student\'s machine has neither, so this check is proven only by `labproof run`',
  },
})
