// Parse what iputils ping prints: the replies with their TTLs, the summary line, and the
// errors that mean "no route" (as the documents show them).

export interface PingReply {
  from: string
  seq: number
  ttl: number
  timeMs?: number
}

export interface PingSummary {
  replies: PingReply[]
  transmitted: number
  received: number
  lossPercent: number
  /** ICMP errors reported by a router or this host: "Destination Host Unreachable". */
  errors: string[]
  /** The process could not send at all: "connect: Network is unreachable". */
  sendError?: string
}

const REPLY = /^\d+ bytes from ([\d.]+): icmp_seq=(\d+) ttl=(\d+)(?: time=([\d.]+) ms)?/
const SUMMARY = /(\d+) packets transmitted, (\d+) (?:packets )?received(?:, \+\d+ errors)?(?:, \+\d+ duplicates)?, ([\d.]+)% packet loss/
const ICMP_ERROR = /^From ([\d.]+)(?: icmp_seq=\d+)? (.+)$/
const SEND_ERROR = /^ping: (.+)$/

export function parsePing(output: string): PingSummary {
  const replies: PingReply[] = []
  const errors: string[] = []
  let transmitted = 0
  let received = 0
  let lossPercent = 100
  let sendError: string | undefined
  for (const line of output.split('\n')) {
    const r = REPLY.exec(line)
    if (r) {
      replies.push({ from: r[1]!, seq: Number(r[2]), ttl: Number(r[3]), ...(r[4] ? { timeMs: Number(r[4]) } : {}) })
      continue
    }
    const s = SUMMARY.exec(line)
    if (s) {
      transmitted = Number(s[1])
      received = Number(s[2])
      lossPercent = Number(s[3])
      continue
    }
    const e = ICMP_ERROR.exec(line)
    if (e) {
      errors.push(`${e[1]}: ${e[2]}`)
      continue
    }
    const se = SEND_ERROR.exec(line)
    if (se) sendError = se[1]
  }
  if (transmitted === 0 && replies.length > 0) {
    // A document's output cut short with ^C before the summary: count what it shows.
    transmitted = replies.length
    received = replies.length
    lossPercent = 0
  }
  return { replies, transmitted, received, lossPercent, errors, ...(sendError ? { sendError } : {}) }
}

/** The ping as if it had sent only its first `count` requests: a ping with a deadline (-w)
 *  keeps sending until `count` replies are in, and loss is a claim about the requests asked for.
 *  A reply to one of them counts once, duplicates aside. */
export function firstRequests(p: PingSummary, count: number): PingSummary {
  if (p.transmitted <= count) return p
  const replies = p.replies.filter((r) => r.seq <= count)
  const received = new Set(replies.map((r) => r.seq)).size
  return { ...p, replies, transmitted: count, received, lossPercent: ((count - received) * 100) / count }
}

export function describePing(p: PingSummary): string {
  if (p.sendError) return `ping could not send: ${p.sendError}`
  const ttls = [...new Set(p.replies.map((r) => r.ttl))]
  const base = `${p.transmitted} sent, ${p.received} received (${p.lossPercent}% loss)`
  const extra = [ttls.length ? `ttl ${ttls.join(',')}` : '', p.errors.length ? `errors: ${[...new Set(p.errors)].join('; ')}` : '']
  return [base, ...extra.filter(Boolean)].join(', ')
}
