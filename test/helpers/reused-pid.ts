// Run as PID 1 of a fresh PID namespace (unshare --pid --fork --mount-proc), where this process
// decides which PID the next child gets: start a process, let it exit, and start another one
// with the same PID (ns_last_pid). Prints what ownerAlive said of each, as JSON.
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { ownerAlive, processStartTime, type Owner } from '../../harness/ownership/owner.ts'

function start(): Promise<{ pid: number; stop: () => Promise<void> }> {
  const child = spawn('sleep', ['infinity'], { stdio: 'ignore' })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('spawn', () => resolve({
      pid: child.pid!,
      stop: () => new Promise((r) => { child.once('exit', () => r()); child.kill('SIGKILL') }),
    }))
  })
}

/** Clock ticks since boot now (USER_HZ is 100 on Linux). */
const ticksNow = () => Math.floor(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 100)

const first = await start()
const firstOwner: Owner = { pid: first.pid, started: processStartTime(first.pid) }
const aliveBefore = ownerAlive(firstOwner)
await first.stop()
// Start times are counted in ticks: the second process must start in a later one to be told
// apart (a PID reused within the same 10 ms cannot be, which is why this waits for the tick).
while (ticksNow() <= firstOwner.started!) await new Promise((r) => setImmediate(r))
writeFileSync('/proc/sys/kernel/ns_last_pid', String(first.pid - 1))
const second = await start()
const secondOwner: Owner = { pid: second.pid, started: processStartTime(second.pid) }
console.log(JSON.stringify({
  firstOwner, secondOwner, aliveBefore,
  firstAliveNow: ownerAlive(firstOwner),
  secondAlive: ownerAlive(secondOwner),
  barePidAlive: ownerAlive(first.pid),
}))
await second.stop()
