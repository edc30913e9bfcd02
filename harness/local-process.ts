// Run a local program with a hard timeout that kills its whole process group, so a command
// that forks (ping, tcpdump, a shell pipeline) never outlives its step.
import { constants } from 'node:os'
import { execa } from 'execa'

export interface ProcessResult {
  exitCode: number
  stdout: string
  stderr: string
  ms: number
  timedOut?: boolean
}

export async function runProcess(
  file: string,
  args: string[],
  opts: { timeoutMs: number; input?: string; env?: Record<string, string> },
): Promise<ProcessResult> {
  const started = performance.now()
  const child = execa(file, args, {
    reject: false,
    detached: true, // its own process group: the timeout kills every descendant
    stripFinalNewline: false,
    input: opts.input ?? '',
    env: opts.env,
    extendEnv: true,
  })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    killGroup(child.pid)
  }, opts.timeoutMs)
  const r = await child
  clearTimeout(timer)
  if (timedOut) killGroup(child.pid) // stragglers that ignored the first kill
  const ms = Math.round(performance.now() - started)
  const exitCode = typeof r.exitCode === 'number' ? r.exitCode : timedOut ? 124 : 128 + signalNumber(r.signal)
  const stderr = r.failed && r.exitCode === undefined && !r.signal && !timedOut ? `${r.stderr ?? ''}${r.shortMessage}` : String(r.stderr ?? '')
  return { exitCode: timedOut ? 124 : exitCode, stdout: String(r.stdout ?? ''), stderr, ms, ...(timedOut ? { timedOut } : {}) }
}

export function killGroup(pid: number | undefined): void {
  if (!pid) return
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

function signalNumber(signal: string | undefined): number {
  return signal ? (constants.signals[signal as keyof typeof constants.signals] ?? 0) : 0
}
