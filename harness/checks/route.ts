// route: a destination with via / dev, present or absent, read from `ip -j route`.
import type { RouteCheck } from '../scenario/schema.ts'
import type { StepContext } from '../scenario/step-context.ts'
import { CheckFailure } from './check-failure.ts'

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

export async function runRouteCheck(c: RouteCheck, ctx: StepContext): Promise<string> {
  const routes = JSON.parse((await ctx.query(c.on, 'ip -j route show')) || '[]') as IpRoute[]
  const found = findRoute(routes, c)
  const wanted = formatRoute({ dst: c.dst, gateway: c.via, dev: c.dev })
  const table = routes.map(formatRoute).join('\n') || '(empty routing table)'
  if (c.present && !found) throw new CheckFailure(`a route ${wanted} on ${c.on}`, 'none in the table', table)
  if (!c.present && found) throw new CheckFailure(`no route ${wanted} on ${c.on}`, formatRoute(found), table)
  return c.present ? `${c.on} routes ${formatRoute(found!)}` : `${c.on} has no route ${wanted}`
}
