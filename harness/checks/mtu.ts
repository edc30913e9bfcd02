// mtu: a link's MTU, from `ip -j link show`. Tunnels and overlays take their headers out of it
// (an ipip tunnel on a 1500-byte underlay has 1480, a VXLAN device 1450).
import { z } from 'zod'
import { shellQuote } from '../host.ts'
import { interfaceName, target } from '../scenario/fields.ts'
import type { StepContext } from '../scenario/step-context.ts'
import { CheckFailure } from './check-failure.ts'
import { defineCheck, SHELL_ARG } from './kind.ts'

const schema = z.strictObject({
  on: target,
  name: interfaceName,
  /** Bytes; IPv4 needs at least 68, the kernel allows at most 65535 here. */
  mtu: z.number().int().min(68).max(65535),
})
export type MtuCheck = z.output<typeof schema>

const command = (c: MtuCheck) => `ip -j link show dev ${shellQuote(c.name)}`

export default defineCheck({
  name: 'mtu',
  description: "a link's MTU in bytes",
  schema,
  targets: ['on'],
  readsConfigOnly: true,
  requires: { tools: ['ip'] },
  title: (c) => `mtu ${c.mtu} on ${c.name} at ${c.on}`,
  reads: (c) => [{ on: c.on, command: command(c) }],
  async run(c: MtuCheck, ctx: StepContext): Promise<string> {
    const r = await ctx.run(c.on, command(c))
    if (r.exitCode !== 0) throw new CheckFailure(`a link ${c.name} with mtu ${c.mtu} on ${c.on}`, (r.stderr || r.stdout).trim() || `exit ${r.exitCode}`)
    const mtu = (JSON.parse(r.stdout) as { mtu?: number }[])[0]?.mtu
    if (mtu !== c.mtu) throw new CheckFailure(`mtu ${c.mtu} on ${c.name} at ${c.on}`, `mtu ${mtu ?? 'not reported'}`, r.stdout.trim())
    return `${c.name} on ${c.on}: mtu ${mtu}`
  },
  grading: {
    probes: [new RegExp(String.raw`^ip -j link show dev ${SHELL_ARG}$`)],
    tools: ['ip'],
    subject: (c) => [c.on, c.name],
  },
})
