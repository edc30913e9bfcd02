// Run a local program with a hard timeout that kills its whole process group, so a command
// that forks (ping, tcpdump, a shell pipeline) never outlives its step.
//
// The result comes when the program exits, not when its output pipes close: a document command
// such as `sleep 6666666 &` leaves a background process holding the pipes, and the step must
// still finish. Output written after the exit, past a short grace period, is not waited for.
import { spawn } from 'node:child_process'
import { constants } from 'node:os'

export interface ProcessResult {
  exitCode: number
  stdout: string
  stderr: string
  ms: number
  timedOut?: boolean
  /** What the command's processes were doing when its timeout came, one line each, where its
   *  host's /proc could be read (timeout-evidence.ts). */
  atTimeout?: string
}

const OUTPUT_GRACE_MS = 50

export function runProcess(
  file: string,
  args: string[],
  opts: { timeoutMs: number; input?: string; env?: Record<string, string> },
): Promise<ProcessResult> {
  const started = performance.now()
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      detached: true, // its own process group: the timeout kills every descendant
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
    })
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout.on('data', (d: Buffer) => stdout.push(d))
    child.stderr.on('data', (d: Buffer) => stderr.push(d))
    child.stdin.on('error', () => {}) // the program may exit without reading its input
    child.stdin.end(opts.input ?? '')

    let timedOut = false
    let spawnError: string | undefined
    const timer = setTimeout(() => {
      timedOut = true
      killGroup(child.pid)
    }, opts.timeoutMs)

    let settled = false
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      child.stdout.destroy()
      child.stderr.destroy()
      const exitCode = timedOut ? 124 : code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 127)
      resolve({
        exitCode,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8') + (spawnError ? `${spawnError}\n` : ''),
        ms: Math.round(performance.now() - started),
        ...(timedOut ? { timedOut } : {}),
      })
    }
    child.on('error', (e) => {
      spawnError = `could not run ${file}: ${e.message}`
      finish(127, null)
    })
    child.on('close', finish)
    // setImmediate after the grace: if this process was too busy to run the timer on time, the
    // output already in the pipes is read (poll phase) before the result is taken (check phase).
    child.on('exit', (code, signal) => setTimeout(() => setImmediate(() => finish(code, signal)), OUTPUT_GRACE_MS))
  })
}

export function killGroup(pid: number | undefined): void {
  if (!pid) return
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // already gone
  }
}
