// Routes compared as routes: one destination spelt `default` or `0.0.0.0/0`, a host route with or
// without /32; when the lab's route has a gateway, the gateway says it and the device follows
// from it; a metric or protocol counts only where the lab sets one.
import { normalCidr } from './iptables-rule.ts'
import type { RouteState } from './model.ts'

export function normalDestination(dst: string): string {
  if (dst === 'default' || dst === '0.0.0.0/0') return 'default'
  try {
    return normalCidr(dst)
  } catch {
    return dst
  }
}

export function sameRoute(lab: RouteState, student: RouteState): boolean {
  if (normalDestination(lab.dst) !== normalDestination(student.dst)) return false
  if (lab.via ? student.via !== lab.via : lab.dev !== undefined && student.dev !== lab.dev) return false
  if (lab.metric !== undefined && (student.metric ?? 0) !== lab.metric) return false
  if (lab.proto !== undefined && student.proto !== lab.proto) return false
  return true
}

/** As `ip route` prints it: `default via 192.168.28.5 dev veth-1`. */
export function formatRoute(r: RouteState): string {
  return [r.dst, r.via && `via ${r.via}`, r.dev && `dev ${r.dev}`, r.proto && `proto ${r.proto}`, r.metric !== undefined && `metric ${r.metric}`]
    .filter(Boolean).join(' ')
}
