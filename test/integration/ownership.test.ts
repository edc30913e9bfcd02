// The ownership library, with real processes: the lock is held by one process at a time, also
// when a holder is SIGKILLed with others queued behind it, and a killed holder leaves it free
// and no process behind; a PID the kernel handed to a new process is not taken for its old owner.
// Every wait here is on something a process said or did (a line, an exit), never on time.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readlinkSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { MachineLock } from '../../harness/machine-lock.ts'
import { Lock, machineLockFile } from '../../harness/ownership/lock.ts'
import { currentOwner, ownerAlive, ownerTag, parseOwnerTag } from '../../harness/ownership/owner.ts'

const root = process.getuid?.() === 0
const HELPERS = fileURLToPath(new URL('../helpers/', import.meta.url))

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'labproof-ownership-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** PIDs of the processes that have `file` open. */
function holdersOf(file: string): number[] {
  const pids: number[] = []
  for (const p of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      if (readdirSync(`/proc/${p}/fd`).some((fd) => readlinkSync(`/proc/${p}/fd/${fd}`) === file)) pids.push(Number(p))
    } catch {
      // gone, or not ours to read
    }
  }
  return pids
}

/** Whether some process holds the flock on `file` now (flock -n fails). */
function lockIsHeld(file: string): boolean {
  return spawnSync('flock', ['-n', file, 'true']).status !== 0
}

interface Worker {
  child: ChildProcess
  lines: string[]
  /** Resolves when the worker has printed `line` (as many times as asked). */
  said: (line: string, times?: number) => Promise<void>
  exited: Promise<number | NodeJS.Signals>
}

function worker(...args: string[]): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(HELPERS, 'lock-worker.ts'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines: string[] = []
  const waiters: (() => void)[] = []
  let partial = ''
  child.stdout!.on('data', (d) => {
    const parts = (partial + String(d)).split('\n')
    partial = parts.pop()!
    lines.push(...parts)
    for (const w of waiters.splice(0)) w()
  })
  const exited = new Promise<number | NodeJS.Signals>((r) => child.once('exit', (code, signal) => r(signal ?? code!)))
  const said = (line: string, times = 1) => new Promise<void>((resolve, reject) => {
    const look = () => {
      if (lines.filter((l) => l === line).length >= times) return resolve()
      if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`worker ended without saying "${line}": ${lines.join(' | ')}`))
      waiters.push(look)
    }
    child.once('exit', look)
    look()
  })
  return { child, lines, said, exited }
}

describe.skipIf(!root)('the ownership lock (needs root for /run/lock)', () => {
  test('a second holder is told to wait, and gets the lock when the first lets go', async () => {
    const name = `test-${process.pid}-turns`
    const file = machineLockFile(name)
    const first = await MachineLock.acquire(name)
    expect(lockIsHeld(file)).toBe(true)
    let waited = ''
    const second = await new Promise<Lock>((resolve, reject) => {
      Lock.acquire(file, { onWait: (holder) => {
        waited = holder
        void first.release()
      } }).then(resolve, reject)
    })
    // The waiter learnt who held it from the lock file.
    expect(waited).toBe(`process ${process.pid}, running a lab that changes ${name}`)
    expect(lockIsHeld(file)).toBe(true)
    await second.release()
    expect(lockIsHeld(file)).toBe(false)
    expect(holdersOf(file)).toEqual([])
  })

  test('four processes taking it 10 times each are never inside together', async () => {
    const file = path.join(dir, 'turns.lock')
    const marker = path.join(dir, 'inside')
    const workers = [1, 2, 3, 4].map(() => worker(file, '10', marker))
    const ends = await Promise.all(workers.map((w) => w.exited))
    expect(ends, workers.map((w) => w.lines.join(' ')).join('\n')).toEqual([0, 0, 0, 0])
    for (const w of workers) expect(w.lines.filter((l) => l === 'released')).toHaveLength(10)
    // Some of them had to queue: the lock was contended, not taken in turn by luck.
    expect(workers.some((w) => w.lines.includes('waiting'))).toBe(true)
    expect(existsSync(marker)).toBe(false)
  }, 120_000)

  test('a holder SIGKILLed with two processes queued: they get it one after the other', async () => {
    const file = path.join(dir, 'killed.lock')
    const marker = path.join(dir, 'inside-after-kill')
    const holder = worker(file, 'hold')
    await holder.said('locked')
    const queued = [worker(file, '3', marker), worker(file, '3', marker)]
    await Promise.all(queued.map((w) => w.said('waiting')))
    expect(queued.every((w) => !w.lines.includes('locked'))).toBe(true)
    holder.child.kill('SIGKILL')
    expect(await holder.exited).toBe('SIGKILL')
    const ends = await Promise.all(queued.map((w) => w.exited))
    expect(ends, queued.map((w) => w.lines.join(' ')).join('\n')).toEqual([0, 0])
    expect(lockIsHeld(file)).toBe(false)
    // The killed holder's flock process died with it (pdeathsig): nothing has the file open.
    expect(holdersOf(file)).toEqual([])
  }, 60_000)

  test('a lock directory left by an earlier labproof is replaced by the lock file', async () => {
    const file = path.join(dir, 'legacy.lock')
    spawnSync('sh', ['-c', `mkdir ${file} && echo 1 > ${file}/pid`])
    const lock = await Lock.acquire(file)
    expect(lockIsHeld(file)).toBe(true)
    await lock.release()
    expect((await readFile(file, 'utf8')).trim()).toBe(`process ${process.pid}`)
  })
})

describe('the owner of a resource', () => {
  test('is named by PID and start time, and reads back from its tag', () => {
    const me = currentOwner()
    expect(me.pid).toBe(process.pid)
    expect(me.started).toBeGreaterThan(0)
    expect(parseOwnerTag(ownerTag(me))).toEqual(me)
    expect(parseOwnerTag('1234')).toEqual({ pid: 1234 })
    expect(parseOwnerTag('12a')).toBeUndefined()
    expect(ownerAlive(me)).toBe(true)
    expect(ownerAlive({ pid: me.pid, started: me.started! - 1 })).toBe(false)
  })

  test.skipIf(!root)('a PID the kernel gave to a new process is not its old owner (needs root: a PID namespace)', async () => {
    const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, '--import', 'tsx', path.join(HELPERS, 'reused-pid.ts')], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout!.on('data', (d) => (out += String(d)))
    expect(await new Promise((r) => child.once('exit', r))).toBe(0)
    const r = JSON.parse(out) as { firstOwner: { pid: number; started: number }; secondOwner: { pid: number; started: number }; aliveBefore: boolean; firstAliveNow: boolean; secondAlive: boolean; barePidAlive: boolean }
    expect(r.secondOwner.pid).toBe(r.firstOwner.pid)
    expect(r.secondOwner.started).toBeGreaterThan(r.firstOwner.started)
    expect(r.aliveBefore).toBe(true)
    expect(r.firstAliveNow).toBe(false)
    expect(r.secondAlive).toBe(true)
    // A bare PID (names written without a start time) cannot tell them apart.
    expect(r.barePidAlive).toBe(true)
  }, 60_000)
})
