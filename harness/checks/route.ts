// route: a destination with via / dev, present or absent, read from `ip -j route`.
import { z } from 'zod'
import { interfaceName, ipv4, target, valid } from '../scenario/fields.ts'
import type { StepContext } from '../scenario/step-context.ts'
import { cidrProblem, ipv4Problem } from '../scenario/values.ts'
import { CheckFailure } from './check-failure.ts'
import { defineCheck } from './kind.ts'

const schema = z.strictObject({
  on: target,
  /** `default`, `10.10.20.0/24`, or a host `172.16.20.20`. */
  dst: z.union([z.literal('default'), valid((v) => (v.includes('/') ? cidrProblem(v, 'network') : ipv4Problem(v)))]),
  via: ipv4.optional(),
  dev: interfaceName.optional(),
  present: z.boolean().default(true),
})
export type RouteCheck = z.output<typeof schema>

export interface IpRoute {
  dst: string
  gateway?: string
  dev?: string
  protocol?: string
  scope?: string
  prefsrc?: string
  metric?: number
  flags?: string[]
}

/** `10.10.20.0/24`, `default`; a host route `172.16.20.20` is also `172.16.20.20/32`. */
function sameDestination(route: string, wanted: string): boolean {
  const norm = (d: string) => (d === 'default' || d === '0.0.0.0/0' ? 'default' : d.endsWith('/32') ? d.slice(0, -3) : d)
  return norm(route) === norm(wanted)
}

export function formatRoute(r: IpRoute): string {
  return [r.dst, r.gateway && `via ${r.gateway}`, r.dev && `dev ${r.dev}`, r.scope && r.scope !== 'global' && `scope ${r.scope}`]
    .filter(Boolean).join(' ')
}

export function findRoute(routes: IpRoute[], c: Pick<RouteCheck, 'dst' | 'via' | 'dev'>): IpRoute | undefined {
  return routes.find((r) => sameDestination(r.dst, c.dst) && (!c.via || r.gateway === c.via) && (!c.dev || r.dev === c.dev))
}

async function runRouteCheck(c: RouteCheck, ctx: StepContext): Promise<string> {
  const routes = JSON.parse((await ctx.query(c.on, 'ip -j route show')) || '[]') as IpRoute[]
  const found = findRoute(routes, c)
  const wanted = formatRoute({ dst: c.dst, gateway: c.via, dev: c.dev })
  const table = routes.map(formatRoute).join('\n') || '(empty routing table)'
  if (c.present && !found) throw new CheckFailure(`a route ${wanted} on ${c.on}`, 'none in the table', table)
  if (!c.present && found) throw new CheckFailure(`no route ${wanted} on ${c.on}`, formatRoute(found), table)
  return c.present ? `${c.on} routes ${formatRoute(found!)}` : `${c.on} has no route ${wanted}`
}

export default defineCheck({
  name: 'route',
  description: 'a route to a destination, with its gateway and device, is in a routing table (or is not)',
  schema,
  targets: ['on'],
  readsConfigOnly: true,
  requires: { tools: ['ip'] },
  title: (c) => `${c.present === false ? 'no ' : ''}route ${c.dst}${c.via ? ` via ${c.via}` : ''}${c.dev ? ` dev ${c.dev}` : ''} on ${c.on}`,
  reads: (c) => [{ on: c.on, command: 'ip -j route show' }],
  run: runRouteCheck,
  grading: {
    probes: [/^ip -j route show$/],
    tools: ['ip'],
    subject: (c) => [c.on, c.dst],
  },
})
