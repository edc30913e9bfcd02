// nat: from a private namespace to an address on the simulated internet. Masqueraded: replies
// come back. Not masqueraded: no reply comes back (the internet has no route to the private
// subnet). The wire evidence (which source the internet host sees) is added by the capture layer.
import type { NatCheck } from '../scenario/schema.ts'
import type { StepContext } from '../scenario/step-context.ts'
import { describePing, parsePing } from '../parse/ping.ts'
import { assertPing, pingCommand } from './ping.ts'

export async function runNatCheck(c: NatCheck, ctx: StepContext): Promise<string> {
  const r = await ctx.run(c.from, pingCommand({ to: c.to, count: 3 }))
  const p = parsePing(r.stdout + r.stderr)
  assertPing(p, { reachable: c.masqueraded }, `${c.to} from ${c.from} ${c.masqueraded ? 'through NAT' : 'without NAT'}`, r.stdout + r.stderr)
  return `${c.to} from ${c.from}: ${describePing(p)}`
}
