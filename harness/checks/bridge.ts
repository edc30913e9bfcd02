// bridge: its ports and each port's STP state, from `bridge -j link show`.
import { z } from 'zod'
import { interfaceName, target } from '../scenario/fields.ts'
import type { StepContext } from '../scenario/step-context.ts'
import { Mismatches } from './check-failure.ts'
import { defineCheck } from './kind.ts'
import { readSettled } from './settle.ts'

const schema = z.strictObject({
  on: target,
  name: interfaceName,
  /** Ports and the STP state each must be in: forwarding, disabled, blocking, listening, learning. */
  ports: z.record(interfaceName, z.enum(['forwarding', 'disabled', 'blocking', 'listening', 'learning', 'any'])),
  /** Whether ports not listed are an error. */
  exact: z.boolean().default(false),
})
export type BridgeCheck = z.output<typeof schema>

export interface BridgePort {
  ifname: string
  master?: string
  state?: string
  flags?: string[]
}

export function portsOf(all: BridgePort[], bridge: string): BridgePort[] {
  return all.filter((p) => p.master === bridge)
}

/** A port expected forwarding that is disabled, listening or learning: it may get there (a port
 *  brought up is `disabled` until the kernel has seen its carrier; settle.ts reads it again). */
export function portsSettling(expected: BridgeCheck['ports'], ports: BridgePort[]): boolean {
  return Object.entries(expected).some(([name, state]) => {
    const seen = ports.find((p) => p.ifname === name)?.state
    return state === 'forwarding' && seen !== undefined && ['disabled', 'listening', 'learning'].includes(seen)
  })
}

async function runBridgeCheck(c: BridgeCheck, ctx: StepContext): Promise<string> {
  const read = async () => portsOf(JSON.parse((await ctx.query(c.on, 'bridge -j link show')) || '[]') as BridgePort[], c.name)
  const ports = await readSettled(read, (p) => portsSettling(c.ports, p))
  const seen = ports.map((p) => `${p.ifname} ${p.state ?? '?'}`).join(', ') || 'no ports'
  const m = new Mismatches()
  for (const [name, state] of Object.entries(c.ports)) {
    const port = ports.find((p) => p.ifname === name)
    if (!port) m.add(`port ${name}`, `not a port of ${c.name}`)
    else if (state !== 'any' && port.state !== state) m.add(`${name} ${state}`, `${name} ${port.state}`)
  }
  if (c.exact) {
    for (const p of ports) if (!(p.ifname in c.ports)) m.add(`only the listed ports`, `also ${p.ifname}`)
  }
  m.throwIfAny(`bridge ${c.name} on ${c.on}`, `ports: ${seen}`)
  return `bridge ${c.name} on ${c.on}: ${seen}`
}

export default defineCheck({
  name: 'bridge',
  description: "a Linux bridge's ports and the STP state of each",
  schema,
  targets: ['on'],
  readsConfigOnly: true,
  requires: { tools: ['bridge'] },
  title: (c) => `bridge ${c.name} ports on ${c.on}`,
  reads: (c) => [{ on: c.on, command: 'bridge -j link show' }],
  run: runBridgeCheck,
  grading: {
    probes: [/^bridge -j link show$/],
    tools: ['bridge'],
    subject: (c) => [c.on, c.name],
  },
})
