// Document commands that never end on their own (ping with no count, tcpdump, a shell) run
// bounded, and the report says how. The command itself is left as written otherwise.

export interface BoundedCommand {
  command: string
  /** What was changed and why, for the report; empty when the command runs as written. */
  notes: string[]
  /** Whether the command is a ping whose output can be parsed for replies. */
  isPing: boolean
}

/** Words that may stand before the program: `ip netns exec ns1 ping …`, `sudo ping …`. */
const PREFIXES: RegExp = /^(\s*(sudo\s+|ip\s+(-\S+\s+)*netns\s+exec\s+\S+\s+|ip\s+-n\s+\S+\s+|nsenter\s+(-\S+\s+)*--\s+))*/

/** Lab commands run as root on every backend, and root may send a request every 10 ms: only
 *  reachability and TTL matter, not the pace. A reply is still awaited a full second. */
export const PING_BOUNDS = { count: 3, interval: 0.01, deadline: 1 }
/** The shortest interval ping allows a user other than root (iputils before 20221126), for
 *  pings that may run under a student's own login (grading). */
export const PORTABLE_PING_INTERVAL = 0.2
export const TCPDUMP_SECONDS = 3

export function boundCommand(cmd: string): BoundedCommand {
  // Only a single simple command is rewritten; pipelines and lists run as written.
  if (/[;&|`]|\$\(/.test(cmd.replace(/\|\|/g, ''))) return { command: cmd, notes: [], isPing: false }
  const prefix = PREFIXES.exec(cmd)?.[0] ?? ''
  const rest = cmd.slice(prefix.length)
  const program = rest.split(/\s+/)[0] ?? ''
  if (program === 'ping') return boundPing(prefix, rest)
  if (program === 'tcpdump' && !/\s-c\s*\d/.test(rest)) {
    return {
      command: `${prefix}timeout -s INT ${TCPDUMP_SECONDS} ${rest}`,
      notes: [`tcpdump runs until interrupted: stopped after ${TCPDUMP_SECONDS} s`],
      isPing: false,
    }
  }
  return { command: cmd, notes: [], isPing: false }
}

function boundPing(prefix: string, rest: string): BoundedCommand {
  const args = rest.split(/\s+/).slice(1)
  const has = (flag: string) => args.some((a) => a === flag || (a.startsWith(flag) && /^-[a-zA-Z]\d/.test(a)))
  const added: string[] = []
  const notes: string[] = []
  if (!has('-c')) {
    added.push(`-c ${PING_BOUNDS.count}`)
    notes.push(`ping has no count in the document: bounded to ${PING_BOUNDS.count} echo requests`)
  }
  if (!has('-i')) {
    added.push(`-i ${PING_BOUNDS.interval}`)
    notes.push(`requests sent every ${PING_BOUNDS.interval} s instead of 1 s (only reachability and TTL matter)`)
  }
  if (!has('-W') && !has('-w')) {
    added.push(`-W ${PING_BOUNDS.deadline}`)
    notes.push(`each reply awaited ${PING_BOUNDS.deadline} s at most`)
  }
  if (added.length === 0) return { command: prefix + rest, notes, isPing: true }
  return { command: `${prefix}ping ${added.join(' ')} ${args.join(' ')}`, notes, isPing: true }
}
