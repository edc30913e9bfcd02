// No packet leaves the machine: while every scenario runs (netns, and docker when an engine
// answers), tcpdump listens on the machine's real interfaces in its own network namespace, and
// not one packet there may carry a lab address (the scenarios' subnets, the underlay, the
// simulated internet) or be unicast neither from nor to this machine. docker0, docker's default
// bridge, is watched for lab addresses too (other containers may use it legitimately).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { readPcap } from '../../harness/capture/pcap.ts'
import { buildTopology } from '../../harness/topology.ts'
import { describeWithEngine, dockerMissing, testWithEngine, type Engine } from '../helpers/engines.ts'
import { findLeaks, inCidr, parseCidr, type Cidr } from '../helpers/wire-leaks.ts'
import { failedTestcases } from '../soak/junit-failures.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = path.join(ROOT, 'bin', 'labproof.js')

interface Watched { iface: string; strict: boolean }

/** Up, not loopback, and a device (not a virtual link made by labproof, docker or a test);
 *  plus docker0, watched for lab addresses only. */
function interfacesToWatch(): Watched[] {
  const links = JSON.parse(spawnSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' }).stdout || '[]') as { ifname: string; flags: string[] }[]
  return links
    .filter((l) => l.ifname !== 'lo' && l.flags.includes('UP'))
    .map((l) => ({ iface: l.ifname, real: !realpathSync(`/sys/class/net/${l.ifname}`).includes('/virtual/') }))
    .filter((l) => l.real || l.iface === 'docker0')
    .map((l) => ({ iface: l.iface, strict: l.real }))
}

function ownAddresses(): Set<string> {
  const addrs = JSON.parse(spawnSync('ip', ['-j', 'addr', 'show'], { encoding: 'utf8' }).stdout || '[]') as { addr_info: { local: string }[] }[]
  return new Set(addrs.flatMap((a) => a.addr_info.map((i) => i.local)))
}

/** The IPv4 networks of the interface this machine's default route leaves by: its gateway and
 *  neighbours there carry their addresses on its wire whatever a lab does. */
function uplinkNetworks(): Cidr[] {
  const routes = JSON.parse(spawnSync('ip', ['-j', '-4', 'route', 'show', 'default'], { encoding: 'utf8' }).stdout || '[]') as { dev?: string }[]
  return routes.flatMap((r) => {
    if (!r.dev) return []
    const [link] = JSON.parse(spawnSync('ip', ['-j', '-4', 'addr', 'show', 'dev', r.dev], { encoding: 'utf8' }).stdout || '[]') as { addr_info: { local: string; prefixlen: number }[] }[]
    return (link?.addr_info ?? []).map((i) => parseCidr(`${i.local}/${i.prefixlen}`))
  })
}

/** Every IPv4 subnet a scenario names (as /24), the default underlay, the gateway's transit
 *  link and the simulated internet's addresses: none of them belongs on this machine's wire.
 *  A literal on the machine's own uplink network is left out: this machine's gateway was
 *  192.0.2.1, which a scenario names in an iptables rule (no lab sends from it), and the
 *  machine's own ARP for its gateway was taken for a leak. A lab packet there is still caught
 *  on a real interface as unicast neither from nor to this machine. */
function labSubnets(own: Set<string>): Cidr[] {
  const uplink = uplinkNetworks()
  const dir = path.join(ROOT, 'scenarios')
  const literals = new Set<string>()
  for (const f of readdirSync(dir).filter((n) => /\.ya?ml$/.test(n))) {
    for (const m of readFileSync(path.join(dir, f), 'utf8').matchAll(/\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b/g)) {
      const [a, b, c] = [Number(m[1]), Number(m[2]), Number(m[3])]
      if (a === 0 || a === 127 || a >= 224 || a === 255 || m.slice(1, 5).some((o) => Number(o) > 255)) continue
      if (own.has(m[0]) || uplink.some((n) => inCidr(m[0], n))) continue
      literals.add(`${a}.${b}.${c}.0/24`)
    }
  }
  const t = buildTopology({})
  return [...literals, t.underlay.subnet, t.internet.gatewayTransit.replace(/\.\d+\/\d+$/, '.0/30'), ...t.internet.addresses.map((a) => `${a}/32`)].map(parseCidr)
}

interface Listener { iface: string; strict: boolean; file: string; child: ChildProcess; log: () => string }

async function listen(dir: string, w: Watched): Promise<Listener> {
  const file = path.join(dir, `${w.iface}.pcap`)
  // -p: only this machine's own traffic on a real interface, not a shared segment's.
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'tcpdump', '-p', '-n', '-U', '-s', '262', '-i', w.iface, '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  // Listening once it says so on stderr; an exit before that is a failure to start.
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`tcpdump did not start on ${w.iface} (exit ${code}): ${log}`))
    child.once('exit', onExit)
    child.stderr!.on('data', (d) => {
      log += String(d)
      if (log.includes('listening on')) {
        child.off('exit', onExit)
        resolve()
      }
    })
  })
  return { ...w, file, child, log: () => log }
}

async function stop(l: Listener): Promise<void> {
  if (l.child.exitCode !== null) return
  const gone = new Promise((r) => l.child.once('exit', r))
  l.child.kill('SIGINT') // by PID: the tcpdump this test started; it flushes and exits
  await gone
}

function runAll(out: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'run', ...args], {
      cwd: ROOT,
      env: { ...process.env, LABPROOF_OUTPUT_DIR: out, NO_COLOR: '1', FORCE_COLOR: '0', TESTCONTAINERS_RYUK_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout!.on('data', (d) => (output += String(d)))
    child.stderr!.on('data', (d) => (output += String(d)))
    child.on('exit', (code) => resolve({ code, output }))
  })
}

const root = process.getuid?.() === 0
const tcpdump = spawnSync('sh', ['-c', 'command -v tcpdump']).status === 0
const watched = root && tcpdump ? interfacesToWatch() : []
const engineGone: [Engine, string | undefined] = !root ? ['root', 'needs root'] : ['tcpdump', tcpdump ? undefined : 'needs tcpdump']
// No real interface up: nothing on this machine could carry a leak, so nothing to watch.
const noInterface = root && tcpdump && !watched.some((w) => w.strict) ? 'no real network interface is up here' : undefined
const skip = engineGone[1] ?? noInterface

const dockerGone = skip ?? await dockerMissing()

const describeIsolation = (title: string, body: () => void) => noInterface
  ? describe.skip(`${title} (skipped: ${noInterface})`, body)
  : describeWithEngine(...engineGone, title, body)

describeIsolation("nothing a lab sends reaches the machine's own interfaces", () => {
  let dir: string
  const own = ownAddresses()
  const lab = labSubnets(own)

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'labproof-isolation-'))
  })
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  async function runWatched(name: string, args: string[]) {
    const listeners: Listener[] = []
    try {
      for (const w of watched) listeners.push(await listen(dir, { ...w, iface: w.iface }))
      const run = await runAll(path.join(dir, name), args)
      // The run really ran the scenarios, every step of them: a lab that stopped half way
      // (a failed step blocks the rest) has not sent what it would have. A failure names its
      // steps with their messages (the console's tail alone did not say which of 488 failed).
      const junit = await readFile(path.join(dir, name, 'reports', 'junit.xml'), 'utf8').catch(() => '')
      const failedSteps = failedTestcases(junit)
      expect(run.code, `${failedSteps.map((f) => `failed: ${f}\n`).join('')}${run.output.slice(-3000)}`).toBe(0)
      const tests = Number(/<testsuites [^>]*tests="(\d+)"/.exec(junit)?.[1] ?? 0)
      expect(tests).toBeGreaterThan(100)
      expect(failedSteps).toEqual([])
    } finally {
      for (const l of listeners) await stop(l)
    }
    const found: string[] = []
    for (const l of listeners) {
      expect(existsSync(l.file), l.log()).toBe(true)
      const file = await readFile(l.file)
      const capture = readPcap(file, { source: l.file })
      for (const leak of findLeaks(file, capture, { own, lab, strict: l.strict })) found.push(`${l.iface} packet ${leak.packet}: ${leak.why}`)
    }
    expect(listeners.map((l) => l.iface)).toContain(watched.find((w) => w.strict)!.iface)
    expect(found).toEqual([])
  }

  test(`every scenario on netns; watching ${watched.map((w) => w.iface).join(', ')}`, async () => {
    expect(lab.map((c) => c.text)).toEqual(expect.arrayContaining(['192.168.21.0/24', '8.8.8.8/32', '100.64.0.0/30']))
    await runWatched('netns', [])
  }, 900_000)

  testWithEngine('docker', dockerGone, 'every scenario on docker', async () => {
    await runWatched('docker', ['--backend', 'docker'])
  }, 1_800_000)
})
