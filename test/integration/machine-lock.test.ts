// The machine lock: two holders take turns, and a holder that dies (even by SIGKILL of its
// labproof process) leaves the lock free and no process behind.
import { spawn } from 'node:child_process'
import { readdirSync, readlinkSync, rmSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { MachineLock } from '../../harness/machine-lock.ts'

const root = process.getuid?.() === 0

function holdersOf(name: string): number[] {
  const pids: number[] = []
  for (const p of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      if (readdirSync(`/proc/${p}/fd`).some((fd) => readlinkSync(`/proc/${p}/fd/${fd}`).endsWith(`/${name}.lock`))) pids.push(Number(p))
    } catch {
      // gone, or not ours to read
    }
  }
  return pids
}

describe.skipIf(!root)('machine lock (needs root)', () => {
  test('a second holder waits until the first releases', async () => {
    const name = `test-${process.pid}-turns`
    const first = await MachineLock.acquire(name)
    let second: MachineLock | undefined
    const waiting = MachineLock.acquire(name).then((l) => (second = l))
    await new Promise((r) => setTimeout(r, 300))
    expect(second).toBeUndefined()
    await first.release()
    await waiting
    expect(second).toBeDefined()
    await second!.release()
    await new Promise((r) => setTimeout(r, 100))
    expect(holdersOf(name)).toEqual([])
    rmSync(`/run/lock/labproof/${name}.lock`, { force: true })
  })

  test('a labproof process killed while holding it frees it', async () => {
    const name = `test-${process.pid}-killed`
    const script = `
      import { MachineLock } from ${JSON.stringify(new URL('../../harness/machine-lock.ts', import.meta.url).pathname)}
      await MachineLock.acquire(${JSON.stringify(name)})
      console.log('held')
      setInterval(() => {}, 1000)
    `
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    await new Promise((resolve) => child.stdout.once('data', resolve))
    expect(holdersOf(name).length).toBeGreaterThan(0)
    child.kill('SIGKILL')
    const lock = await MachineLock.acquire(name)
    await lock.release()
    await new Promise((r) => setTimeout(r, 100))
    expect(holdersOf(name)).toEqual([])
    rmSync(`/run/lock/labproof/${name}.lock`, { force: true })
  })
})
