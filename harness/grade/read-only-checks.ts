// The checks as grading runs them. Most are the run's own check code: they only read state. A
// ping check in `labproof run` also captures the echo replies with tcpdump to prove the TTL on
// the wire; a capture starts a process and writes a file on the machine, so grading judges a
// ping by what ping prints (replies, loss, the TTL of every reply), which is what a student sees.
import { runCheck } from '../checks/index.ts'
import { assertPing, pingCommand } from '../checks/ping.ts'
import { describePing, parsePing } from '../parse/ping.ts'
import type { Check, PingCheck } from '../scenario/schema.ts'
import type { StepContext } from '../scenario/step-context.ts'

export function runReadOnlyCheck(c: Check, ctx: StepContext): Promise<string> {
  return c.ping ? gradePing(c.ping, ctx) : runCheck(c, ctx)
}

async function gradePing(c: PingCheck, ctx: StepContext): Promise<string> {
  const r = await ctx.run(c.from, pingCommand(c))
  const p = parsePing(r.stdout + r.stderr)
  assertPing(p, c, `ping ${c.to} from ${c.from}`, r.stdout + r.stderr)
  return `ping ${c.to} from ${c.from}: ${describePing(p)}`
}
