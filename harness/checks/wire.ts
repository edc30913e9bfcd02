// Wire checks: packets matching a pattern seen at least / at most N times at a capture point.
// A failure quotes the packets that were seen there.
import { describePattern, matchPacket, type PacketPattern } from '../capture/pattern.ts'
import type { Evidence } from '../capture/evidence.ts'
import { CheckFailure } from './check-failure.ts'

export interface WireAssertion {
  /** Capture point: `host01:ens33`, `host01/ns1:v1`, `internet:eth0`. */
  on: string
  match: PacketPattern
  /** At least this many matching packets (default 1, or 0 when only `max` is given). */
  min?: number
  /** At most this many; 0 means "never on the wire". */
  max?: number
}

export function assertWire(a: WireAssertion, evidence: Evidence): string {
  const capture = evidence.captures.get(a.on)
  if (!capture) throw new Error(`no capture was taken on ${a.on}`)
  const count = capture.packets.filter((p) => matchPacket(p, a.match)).length
  const min = a.min ?? (a.max !== undefined ? 0 : 1)
  const what = `${describePattern(a.match)} on ${a.on}`
  const bounds = a.max === 0 ? 'none' : a.max !== undefined ? `${min} to ${a.max}` : `at least ${min}`
  if (count < min || (a.max !== undefined && count > a.max)) {
    throw new CheckFailure(`${bounds} ${what}`, `${count} of ${capture.packets.length} packets captured there`, `packets on ${a.on}:\n${evidence.decode(a.on)}`)
  }
  return `${count} × ${what}`
}
