// sysctl: a kernel parameter's value, e.g. net.ipv4.ip_forward.
import { z } from 'zod'
import { target } from '../scenario/fields.ts'
import type { StepContext } from '../scenario/step-context.ts'
import { CheckFailure } from './check-failure.ts'
import { defineCheck } from './kind.ts'

const schema = z.strictObject({
  on: target,
  key: z.string().regex(/^[\w.-]+$/),
  value: z.union([z.string(), z.number()]).transform(String),
})
export type SysctlCheck = z.output<typeof schema>

async function runSysctlCheck(c: SysctlCheck, ctx: StepContext): Promise<string> {
  const value = (await ctx.query(c.on, `sysctl -n ${c.key}`)).trim()
  if (value !== c.value) throw new CheckFailure(`${c.key} = ${c.value} on ${c.on}`, `${c.key} = ${value}`)
  return `${c.key} = ${value} on ${c.on}`
}

export default defineCheck({
  name: 'sysctl',
  description: "a kernel parameter's value, e.g. net.ipv4.ip_forward = 1",
  schema,
  targets: ['on'],
  readsConfigOnly: true,
  requires: { tools: ['sysctl'] },
  title: (c) => `${c.key} = ${c.value} on ${c.on}`,
  reads: (c) => [{ on: c.on, command: `sysctl -n ${c.key}` }],
  run: runSysctlCheck,
  grading: {
    probes: [/^sysctl -n [\w.-]+$/],
    tools: ['sysctl'],
    subject: (c) => [c.on, c.key],
  },
})
