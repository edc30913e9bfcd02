// sysctl: a kernel parameter's value, e.g. net.ipv4.ip_forward.
import type { SysctlCheck } from '../scenario/schema.ts'
import type { StepContext } from '../scenario/step-context.ts'
import { CheckFailure } from './check-failure.ts'

export async function runSysctlCheck(c: SysctlCheck, ctx: StepContext): Promise<string> {
  const value = (await ctx.query(c.on, `sysctl -n ${c.key}`)).trim()
  if (value !== c.value) throw new CheckFailure(`${c.key} = ${c.value} on ${c.on}`, `${c.key} = ${value}`)
  return `${c.key} = ${value} on ${c.on}`
}
