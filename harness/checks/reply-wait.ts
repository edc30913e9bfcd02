// How long a check waits for a reply it claims will not come. Waiting is the whole cost of a
// "no reply" claim, so it is sized to the lab: on a local kernel (netns, docker) every reply in
// these labs arrives in well under a millisecond, and a tenth of a second is a thousand times
// that. The wait grows with the slowest reply this lab has actually shown (a loaded machine, a
// slower backend), and never exceeds the second every other ping waits.
import type { PingSummary } from '../parse/ping.ts'
import { PING_BOUNDS } from '../scenario/bounded.ts'

/** The slowest reply seen, times this, is the least a "no reply" check waits. */
export const SLOWEST_REPLY_FACTOR = 100

export class ReplyWait {
  private slowestMs = 0

  /** @param leastS the backend's own lower bound (Lab.noReplyWaitS). */
  constructor(private readonly leastS: number = PING_BOUNDS.deadline) {}

  /** Every ping of the lab (document pings and checks) reports its replies here. */
  note(p: PingSummary): void {
    for (const r of p.replies) if (r.timeMs !== undefined && r.timeMs > this.slowestMs) this.slowestMs = r.timeMs
  }

  /** Seconds a ping's last request is given before "no reply" is concluded. */
  get seconds(): number {
    const scaled = Math.ceil((SLOWEST_REPLY_FACTOR * this.slowestMs) / 10) / 100
    return Math.min(PING_BOUNDS.deadline, Math.max(this.leastS, scaled))
  }

  /** For the report: the wait and what it rests on. */
  describe(): string {
    const seen = this.slowestMs > 0 ? `slowest reply in this lab ${this.slowestMs} ms` : 'no reply timed in this lab yet'
    return `no reply within ${Math.round(this.seconds * 1000)} ms (${seen})`
  }
}
