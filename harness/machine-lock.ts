// A lock held across processes on this machine, for labs whose hosts share some kernel state
// with the machine (the netns backend's cgroup v1 hierarchies): two runs at once take turns
// instead of colliding. The lock is a `flock` process that dies with labproof (pdeathsig), so a
// killed run never leaves it held.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'

const LOCK_DIR = '/run/lock/labproof'

export class MachineLock {
  private constructor(private readonly holder: ChildProcess) {}

  /** Wait until the named lock is ours. */
  static acquire(name: string): Promise<MachineLock> {
    mkdirSync(LOCK_DIR, { recursive: true })
    // The lock belongs to the open file, which this one process keeps from `exec 9>` to its
    // death (flock(1) running a command would leave that command holding it when killed).
    const holder = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'sh', '-c', 'exec 9>"$0" && flock 9 && echo locked && exec sleep infinity', `${LOCK_DIR}/${name}.lock`], { stdio: ['ignore', 'pipe', 'pipe'] })
    return new Promise((resolve, reject) => {
      let err = ''
      holder.stderr!.on('data', (d) => (err += String(d)))
      holder.once('error', (e) => reject(new Error(`could not take the machine lock ${name}: ${e.message}`)))
      holder.once('exit', (code) => reject(new Error(`could not take the machine lock ${name}: flock exited ${code}: ${err.trim()}`)))
      holder.stdout!.once('data', () => {
        holder.removeAllListeners('exit')
        resolve(new MachineLock(holder))
      })
    })
  }

  release(): Promise<void> {
    return new Promise((resolve) => {
      if (this.holder.exitCode !== null || this.holder.signalCode !== null) return resolve()
      this.holder.once('exit', () => resolve())
      this.holder.kill('SIGKILL')
    })
  }
}
