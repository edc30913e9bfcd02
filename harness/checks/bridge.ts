// bridge: its ports and each port's STP state, from `bridge -j link show`.
import type { BridgeCheck } from '../scenario/schema.ts'
import type { StepContext } from '../scenario/step-context.ts'
import { Mismatches } from './check-failure.ts'

export interface BridgePort {
  ifname: string
  master?: string
  state?: string
  flags?: string[]
}

export function portsOf(all: BridgePort[], bridge: string): BridgePort[] {
  return all.filter((p) => p.master === bridge)
}

export async function runBridgeCheck(c: BridgeCheck, ctx: StepContext): Promise<string> {
  const ports = portsOf(JSON.parse((await ctx.query(c.on, 'bridge -j link show')) || '[]') as BridgePort[], c.name)
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
