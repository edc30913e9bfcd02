// What a command's processes were doing when its timeout came, read from the host's /proc just
// before they are killed. From outside, a command spinning in the kernel (a lock it retries),
// one asleep on something that never comes, and one whose end was never reported all look the
// same: "killed at the timeout". The report says which, so a rare timeout can be explained from
// the run it happened in.
import { readdirSync, readFileSync } from 'node:fs'

/** Linux's USER_HZ: the unit of utime and stime in /proc/PID/stat on every architecture. */
const TICKS_PER_SECOND = 100
/** A command group rarely has more; a fork bomb's report stays short. */
const MAX_PROCESSES = 8
const STACK_FRAMES = 5

const STATES: Record<string, string> = {
  R: 'running', S: 'sleeping', D: 'in uninterruptible sleep', T: 'stopped', t: 'stopped by a tracer',
  Z: 'a zombie', X: 'dead', I: 'idle', P: 'parked',
}

/** x86-64 numbers of the system calls a stuck command is usually in (elsewhere: the number). */
const X64_SYSCALLS: Record<number, string> = {
  0: 'read', 1: 'write', 2: 'open', 7: 'poll', 23: 'select', 35: 'nanosleep', 44: 'sendto', 45: 'recvfrom',
  46: 'sendmsg', 47: 'recvmsg', 61: 'wait4', 202: 'futex', 230: 'clock_nanosleep', 232: 'epoll_wait',
  257: 'openat', 270: 'pselect6', 271: 'ppoll', 281: 'epoll_pwait',
}

export interface ProcessSnapshot {
  pid: number
  name: string
  state: string
  cpuSeconds: number
  kernelSeconds: number
  /** `write(2)`, `syscall 1`, or undefined when it was not in a system call. */
  syscall?: string
  wchan?: string
  /** Innermost kernel frames first. */
  stack: string[]
}

/** The processes of process group `pgid` as `procRoot` (a host's /proc, seen from here) shows them. */
export function snapshotProcessGroup(procRoot: string, pgid: number): ProcessSnapshot[] {
  let entries: string[]
  try {
    entries = readdirSync(procRoot)
  } catch {
    return []
  }
  const found: ProcessSnapshot[] = []
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    const stat = read(`${procRoot}/${entry}/stat`)
    const fields = stat && parseStat(stat)
    if (!fields || fields.pgrp !== pgid) continue
    const syscall = read(`${procRoot}/${entry}/syscall`)?.trim()
    const wchan = read(`${procRoot}/${entry}/wchan`)?.trim()
    found.push({
      pid: Number(entry),
      name: fields.name,
      state: fields.state,
      cpuSeconds: (fields.utime + fields.stime) / TICKS_PER_SECOND,
      kernelSeconds: fields.stime / TICKS_PER_SECOND,
      ...(syscall ? { syscall: syscallName(syscall) } : {}),
      ...(wchan && wchan !== '0' ? { wchan } : {}),
      stack: stackFrames(read(`${procRoot}/${entry}/stack`) ?? ''),
    })
    if (found.length === MAX_PROCESSES) break
  }
  return found.sort((a, b) => a.pid - b.pid)
}

/** One line per process, for a command's report: what each was doing at its timeout. */
export function describeSnapshots(processes: ProcessSnapshot[]): string {
  return processes.map((p) => [
    `pid ${p.pid} ${p.name}: ${STATES[p.state] ?? p.state}`,
    `${p.cpuSeconds.toFixed(2)} s of CPU (${p.kernelSeconds.toFixed(2)} s in the kernel)`,
    ...(p.syscall ? [`in ${p.syscall}`] : []),
    ...(p.wchan ? [`waiting in ${p.wchan}`] : []),
    ...(p.stack.length ? [`kernel stack ${p.stack.join(' < ')}`] : []),
  ].join(', ')).join('\n')
}

/** `pid (comm) state ppid pgrp … utime stime …`; comm may hold spaces and parentheses. */
export function parseStat(stat: string): { name: string; state: string; pgrp: number; utime: number; stime: number } | undefined {
  const close = stat.lastIndexOf(')')
  const open = stat.indexOf('(')
  if (open < 0 || close < open) return undefined
  const rest = stat.slice(close + 2).split(' ')
  // rest[0] is field 3 (state): field N is rest[N - 3].
  const [state, pgrp, utime, stime] = [rest[0], Number(rest[2]), Number(rest[11]), Number(rest[12])]
  if (!state || [pgrp, utime, stime].some((n) => !Number.isFinite(n))) return undefined
  return { name: stat.slice(open + 1, close), state, pgrp, utime, stime }
}

/** /proc/PID/syscall: `NR args… sp pc`, `-1 sp pc` (blocked outside one) or `running`. */
export function syscallName(line: string): string | undefined {
  const first = line.split(' ')[0]!
  if (first === 'running') return undefined
  const nr = Number(first)
  if (!Number.isInteger(nr) || nr < 0) return undefined
  const name = process.arch === 'x64' ? X64_SYSCALLS[nr] : undefined
  return name ? `${name}(2)` : `syscall ${nr}`
}

/** `[<0>] devinet_sysctl_forward+0x1a4/0x2d0` lines → function names, without the system-call
 *  entry every stack ends in. */
export function stackFrames(stack: string): string[] {
  return stack.split('\n').map((l) => /\]\s+([\w.]+)\+/.exec(l)?.[1])
    .filter((f): f is string => !!f && !/^(entry_SYSCALL|do_syscall_)/.test(f)).slice(0, STACK_FRAMES)
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}
