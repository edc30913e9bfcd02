// tcpdump on each of this machine's real interfaces (those backed by a device, and those its
// default routes use) for as long as a VM suite's labs live, to show that no lab packet reached
// them. Ready when tcpdump says "listening on"; stopped only once tcpdump is not runnable (asleep
// in poll(), its ring read out: on SIGINT it stops reading at once and would drop what the
// kernel had queued), then read whole after it has exited and closed its file.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { readPcapFile, type Capture } from '../../harness/capture/pcap.ts'
import { waitUntil } from './wait.ts'

export interface NicWatcher {
  iface: string
  file: string
  child: ChildProcess
  stderr: string
}

/** The machine's real interfaces: those backed by a device, and those the default routes use. */
export function realInterfaces(): string[] {
  const physical = readdirSync('/sys/class/net').filter((n) => existsSync(`/sys/class/net/${n}/device`))
  const routes = spawnSync('ip', ['-j', 'route', 'show', 'default'], { encoding: 'utf8' }).stdout
  const viaDefault = (JSON.parse(routes || '[]') as Array<{ dev?: string }>).flatMap((r) => (r.dev ? [r.dev] : []))
  return [...new Set([...physical, ...viaDefault])]
}

/** One tcpdump per real interface writing what matches `filter` into `dir`; resolves once each
 *  listens, rejects when one exits first. */
export async function watchRealInterfaces(dir: string, filter: string): Promise<NicWatcher[]> {
  const watchers: NicWatcher[] = []
  try {
    for (const iface of realInterfaces()) {
      const file = join(dir, `${iface}.pcap`)
      const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'tcpdump', '-i', iface, '-nn', '-U', '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] })
      const w: NicWatcher = { iface, file, child, stderr: '' }
      watchers.push(w)
      await new Promise<void>((resolve, reject) => {
        const onExit = (code: number | null) => reject(new Error(`tcpdump did not start on ${iface} (exit ${code}): ${w.stderr}`))
        child.once('exit', onExit)
        child.stderr!.on('data', (d) => {
          w.stderr += String(d)
          if (w.stderr.includes('listening on')) {
            child.off('exit', onExit)
            resolve()
          }
        })
      })
    }
    return watchers
  } catch (e) {
    for (const w of watchers) w.child.kill('SIGKILL')
    throw e
  }
}

function runnable(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('R')
  } catch {
    return false
  }
}

/** Stops each watcher once it has read everything queued, and returns what it captured. */
export async function stopWatching(watchers: NicWatcher[]): Promise<Array<{ iface: string; capture: Capture }>> {
  const seen: Array<{ iface: string; capture: Capture }> = []
  for (const w of watchers) {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      const gone = new Promise((r) => w.child.once('exit', r))
      // setpriv execs tcpdump: the child's PID is tcpdump's.
      await waitUntil(`tcpdump on ${w.iface} to read out its ring`, () => !runnable(w.child.pid!), 10_000)
      w.child.kill('SIGINT')
      await gone
    }
    seen.push({ iface: w.iface, capture: await readPcapFile(w.file) })
  }
  return seen
}
