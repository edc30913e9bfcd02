// The one cross-process lock: flock(2) on a file, which the kernel releases when the last
// descriptor of it closes, so a holder killed by SIGKILL frees it and no "is the owner still
// alive?" guess can hand it to two processes. Node cannot flock, so a small holder process takes
// the lock and keeps its descriptor until it is told to let go or labproof dies (pdeathsig).
// A lock file is never removed: a waiter queued on the old file and a newcomer creating a new one
// would both get "the" lock.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, rmSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'

/** Where machine-wide locks live (tmpfs: gone at reboot, with everything they guarded). */
export const MACHINE_LOCK_DIR = '/run/lock/labproof'

// Open the file (read-only when this user may not write it: flock needs no write access), try
// the lock, say "busy" when another holds it and wait, then record who holds it and say "locked".
const HOLDER_SCRIPT = `
if [ ! -e "$0" ] || [ -w "$0" ]; then exec 9>>"$0"; else exec 9<"$0"; fi
if ! flock -n 9; then echo busy; flock 9 || exit 1; fi
if [ -w "$0" ]; then printf '%s\\n' "$1" >"$0"; fi
echo locked
exec sleep infinity
`

export interface LockOptions {
  /** What the holder does with it, for whoever has to wait ("building labproof/host:bookworm"). */
  purpose?: string
  /** Called once if another process holds the lock, with what that holder recorded. */
  onWait?: (holder: string) => void
}

export class Lock {
  private constructor(
    readonly file: string,
    private readonly holder: ChildProcess,
  ) {}

  /** Wait until the lock on `file` is ours (its directory is made when missing). */
  static acquire(file: string, opts: LockOptions = {}): Promise<Lock> {
    mkdirSync(path.dirname(file), { recursive: true })
    // Earlier versions locked with a directory (mkdir + a pid file) of the same name, which a
    // killed holder left behind.
    if (statSync(file, { throwIfNoEntry: false })?.isDirectory()) rmSync(file, { recursive: true, force: true })
    const record = `process ${process.pid}${opts.purpose ? `, ${opts.purpose}` : ''}`
    const holder = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'sh', '-c', HOLDER_SCRIPT, file, record], { stdio: ['ignore', 'pipe', 'pipe'] })
    return new Promise((resolve, reject) => {
      let err = ''
      let out = ''
      holder.stderr!.on('data', (d) => (err += String(d)))
      holder.once('error', (e) => reject(new Error(`could not take the lock ${file}: ${e.message} (it needs setpriv and flock from util-linux)`)))
      holder.once('exit', (code, signal) => reject(new Error(`could not take the lock ${file}: its holder exited (${signal ?? `code ${code}`}): ${err.trim()}`)))
      holder.stdout!.on('data', (d) => {
        out += String(d)
        const lines = out.split('\n')
        out = lines.pop()!
        for (const line of lines) {
          if (line === 'busy' && opts.onWait) void readFile(file, 'utf8').then((h) => opts.onWait!(h.trim() || 'another process'), () => opts.onWait!('another process'))
          if (line === 'locked') {
            holder.removeAllListeners('exit')
            holder.stdout!.removeAllListeners('data')
            resolve(new Lock(file, holder))
          }
        }
      })
    })
  }

  /** Let go; resolves once the holder has exited, i.e. once the kernel has dropped the lock. */
  release(): Promise<void> {
    return new Promise((resolve) => {
      if (this.holder.exitCode !== null || this.holder.signalCode !== null) return resolve()
      this.holder.once('exit', () => resolve())
      this.holder.kill('SIGKILL')
    })
  }
}

/** Run `work` while holding the lock on `file`. */
export async function withLock<T>(file: string, opts: LockOptions, work: () => Promise<T>): Promise<T> {
  const lock = await Lock.acquire(file, opts)
  try {
    return await work()
  } finally {
    await lock.release()
  }
}

/** A lock shared by every labproof process on this machine, by name. */
export function machineLockFile(name: string): string {
  return path.join(MACHINE_LOCK_DIR, `${name.replace(/[^\w.-]+/g, '_')}.lock`)
}
