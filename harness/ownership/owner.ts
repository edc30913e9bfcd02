// Who owns a lab, a cache build or a lock, and whether that owner is still running. A PID alone
// does not name a process: once it exits, the kernel hands its PID to the next process it
// starts, and a sweep would take that stranger for the owner. A PID with the process's start
// time (clock ticks after boot, /proc/PID/stat field 22) names one process for the life of the
// machine.
import { readFileSync } from 'node:fs'

export interface Owner {
  pid: number
  /** Start time in clock ticks after boot; absent in names written before it was recorded. */
  started?: number
}

/** Start time of `pid` in clock ticks after boot, or undefined when no such process exists. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const started = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
    return Number.isFinite(started) ? started : undefined
  } catch {
    return undefined
  }
}

let self: Owner | undefined

/** This process, as an owner. */
export function currentOwner(): Owner {
  self ??= { pid: process.pid, started: processStartTime(process.pid) }
  return self
}

/** Whether `owner` is still running. Without a start time only the PID can be asked, and a
 *  reused PID is taken for the owner (the safe side for a sweep: it leaves things in place). */
export function ownerAlive(owner: Owner | number): boolean {
  const { pid, started } = typeof owner === 'number' ? { pid: owner, started: undefined } : owner
  if (!Number.isInteger(pid) || pid <= 0) return false
  if (started === undefined) return pidExists(pid)
  return processStartTime(pid) === started
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    // EPERM: it exists, and belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** `owner` written into a name (`1234.5678901`: PID, then start time); no `:`, `-` or `/`. */
export function ownerTag(owner: Owner = currentOwner()): string {
  return owner.started === undefined ? String(owner.pid) : `${owner.pid}.${owner.started}`
}

/** Reads what ownerTag wrote (or a bare PID, as older names have). */
export function parseOwnerTag(tag: string | undefined): Owner | undefined {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(tag ?? '')
  if (!m) return undefined
  return m[2] === undefined ? { pid: Number(m[1]) } : { pid: Number(m[1]), started: Number(m[2]) }
}

/** The regular-expression source matching an owner tag (for names that embed one). */
export const OWNER_TAG_PATTERN = '\\d+(?:\\.\\d+)?'
