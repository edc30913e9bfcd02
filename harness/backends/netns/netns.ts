// The embedded default backend: every node of the topology (host01, host02, gateway, internet)
// is one process in its own network, mount, UTS and PID namespaces, on a root file system of its
// own (netns-root.ts: an overlay of the machine's, thrown away with the node), so `ip netns add
// ns1` in Host 01 and in Host 02 are different namespaces and a lab's writes never reach the
// machine. Nothing is linked to the machine's own network namespace: no packet can leave.
//
// Lifetime: each node is `setpriv --pdeathsig KILL unshare --kill-child …`. If labproof dies,
// even by SIGKILL, the kernel kills the node, whose PID namespace takes every process started
// inside with it; the namespaces and their interfaces go when their last process does.
import { copyFile, readFile } from 'node:fs/promises'
import { spawn, type ChildProcess } from 'node:child_process'
import { BaseHost } from '../../base-host.ts'
import { hostLookup, LOCAL_KERNEL_NO_REPLY_WAIT_S, newLabId, type Backend, type Lab } from '../../lab.ts'
import { runProcess } from '../../local-process.ts'
import { dropCapabilities, nodeInitScript } from './netns-root.ts'
import { HostShell, SERVER_SCRIPT, SHELL_DIR, ShellServer, spawnTransport } from '../../shell-server.ts'
import { GATEWAY, INTERNET, stripPrefix, type Topology } from '../../topology.ts'
import { shellQuote, type Capabilities, type Host } from '../../host.ts'
import { probeCapabilities } from '../../capabilities.ts'
import { ownerTag } from '../../ownership/owner.ts'

/** Every node's command line carries `labproof-netns:<lab id>:<owner tag>:<hostname>`, which
 *  `labproof clean` looks for. */
export const NETNS_MARKER = 'labproof-netns'

const NODE_INIT = nodeInitScript()

export class NetnsHost extends BaseHost {
  constructor(name: string, private readonly node: NodeProcess) {
    super(name)
  }

  private readonly shell = new HostShell(() => ShellServer.start(
    spawnTransport('nsenter', [...this.enter(), ...dropCapabilities(), 'sh', '-c', SERVER_SCRIPT]), `/proc/${this.node.innerPid}/root${SHELL_DIR}`, this.name))

  protected async runShell(script: string, opts: { timeoutMs: number; input?: string }) {
    const shell = await this.shell.server()
    // Without its shell (the node is gone), nsenter says why the command cannot run.
    return shell ? shell.run(script, opts) : runProcess('nsenter', [...this.enter(), ...dropCapabilities(), 'sh', '-c', script], opts)
  }

  /** Settles once the node's shell, if it has one, has exited: after the node is killed. */
  shellGone(): Promise<void> {
    return this.shell.gone()
  }

  /** Entering the mount namespace sets the root and working directory to the node's own `/`
   *  (no --wd: it would open a directory of the machine's tree and keep it as the cwd). */
  private enter(): string[] {
    return ['-t', String(this.node.innerPid), '-n', '-m', '-u', '-p', '--']
  }

  /** Every netns host of every lab runs this machine's kernel on this machine's file system:
   *  one probe answers for all of them, each under its own name. */
  override capabilities(): Promise<Capabilities> {
    machineProbe ??= probeCapabilities(this).then((caps) => {
      // A probe cut short (its lab torn down meanwhile) answers for its own host only.
      if (caps.kernelRelease === 'unknown' || Object.values(caps.features).some((f) => typeof f === 'string' && f.startsWith('not probed'))) machineProbe = undefined
      return caps
    }, (e: unknown) => {
      machineProbe = undefined
      throw e
    })
    return machineProbe.then((caps) => ({ ...caps, host: this.name }))
  }

  async copyFrom(remotePath: string, localPath: string): Promise<void> {
    // The node has a root of its own (netns-root.ts): read the file through its view of the tree.
    await copyFile(`/proc/${this.node.innerPid}/root${remotePath}`, localPath)
  }
}

let machineProbe: Promise<Capabilities> | undefined

export interface NodeProcess {
  child: ChildProcess
  innerPid: number
}

export async function startNode(labId: string, hostname: string): Promise<NodeProcess> {
  const child = spawn(
    'setpriv',
    ['--pdeathsig', 'KILL', '--', 'unshare', '--kill-child=SIGKILL', '--net', '--mount', '--uts', '--pid', '--fork',
      '--propagation', 'private', 'sh', '-c', NODE_INIT, `${NETNS_MARKER}:${labId}:${ownerTag()}:${hostname}`, hostname],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const output: string[] = []
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string) => reject(new Error(
      `could not start a network-namespace host (${hostname}): ${why}\n${output.join('')}` +
      '\nThe netns backend needs Linux, root (CAP_SYS_ADMIN) and util-linux (unshare, nsenter, setpriv).',
    ))
    child.on('error', (e) => fail(e.message))
    child.on('exit', (code, signal) => fail(`exited ${code ?? signal} before it was ready`))
    child.stderr!.on('data', (d) => output.push(String(d)))
    child.stdout!.on('data', (d) => {
      output.push(String(d))
      if (output.join('').includes('ready')) resolve()
    })
  })
  child.removeAllListeners('exit')
  child.stdout!.resume()
  return { child, innerPid: await childPid(child.pid!) }
}

/** The PID (as seen from here) of the node's first process, inside its namespaces. */
async function childPid(pid: number): Promise<number> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/)
  const first = Number(children[0])
  if (!first) throw new Error(`the namespace host process ${pid} has no child`)
  return first
}

export function killNode(node: NodeProcess): Promise<void> {
  return new Promise((resolve) => {
    if (node.child.exitCode !== null || node.child.signalCode !== null) return resolve()
    node.child.once('exit', () => resolve())
    node.child.kill('SIGKILL')
  })
}

/** The wiring, run inside the nodes: the gateway owns the underlay segment as a bridge.
 *  `vethHosts` are the hosts given a veth port on it (other backends plug in their own). Every
 *  value from a scenario was validated at load (topologyProblems) and is quoted here as well. */
export function gatewayScript(t: Topology, pids: Map<string, number>, vethHosts = t.hosts): string {
  const q = shellQuote
  const lines = [
    'ip link add underlay type bridge',
    `ip addr add ${q(`${t.underlay.gateway}/${t.underlay.prefixLength}`)} brd + dev underlay`,
    'ip link set underlay up',
  ]
  for (const h of vethHosts) {
    lines.push(
      `ip link add ${q(`port-${h.name}`)} type veth peer name ${q(t.underlay.interface)} netns ${pidOf(pids, h.name)}`,
      `ip link set ${q(`port-${h.name}`)} master underlay up`,
    )
  }
  lines.push(
    `ip link add wan type veth peer name eth0 netns ${pidOf(pids, INTERNET)}`,
    `ip addr add ${q(t.internet.gatewayTransit)} dev wan`,
    'ip link set wan up',
    ...t.internet.addresses.map((a) => `ip route add ${q(`${a}/32`)} via ${q(stripPrefix(t.internet.internetTransit))}`),
    'sysctl -qw net.ipv4.ip_forward=1',
  )
  return lines.join(' && ')
}

function pidOf(pids: Map<string, number>, name: string): number {
  const pid = pids.get(name)
  if (!Number.isInteger(pid)) throw new Error(`no node process for ${name}`)
  return pid!
}

export function hostScript(t: Topology, underlayAddress: string): string {
  const dev = shellQuote(t.underlay.interface)
  return [
    // `brd +`: the subnet's broadcast address, as DHCP or a distro's network configuration sets
    // it on a real host's NIC (`ifconfig` shows it: broadcast 192.168.21.255).
    `ip addr add ${shellQuote(underlayAddress)} brd + dev ${dev}`,
    `ip link set ${dev} up`,
    `ip route add default via ${shellQuote(t.underlay.gateway)}`,
    // A new network namespace inherits IPv4 settings from the machine's own; a fresh host
    // does not forward until the lab turns it on.
    'sysctl -qw net.ipv4.ip_forward=0',
  ].join(' && ')
}

export function internetScript(t: Topology): string {
  const q = shellQuote
  return [
    `ip addr add ${q(t.internet.internetTransit)} dev eth0`,
    'ip link set eth0 up',
    ...t.internet.addresses.map((a) => `ip addr add ${q(`${a}/32`)} dev lo`),
    // Like a real internet: it can answer the hosts' public (underlay) addresses, and has no
    // route at all to a lab's private subnets, so a private source never gets a reply.
    `ip route add ${q(t.underlay.subnet)} via ${q(stripPrefix(t.internet.gatewayTransit))}`,
  ].join(' && ')
}

const NEEDS_ROOT = 'the netns backend needs root: run labproof as root (sudo), or choose --backend docker'

/** Root, util-linux and iproute2 on this machine: what every netns node is made with. */
export async function netnsPreflight(backend = 'netns'): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error(backend === 'netns' ? NEEDS_ROOT : `the ${backend} backend needs root: run labproof as root (sudo)`)
  const r = await runProcess('sh', ['-c', 'for t in unshare nsenter setpriv ip; do command -v "$t" >/dev/null || echo "$t"; done'], { timeoutMs: 5_000 })
  const missing = r.stdout.trim().split(/\s+/).filter(Boolean)
  if (missing.length) {
    throw new Error(`the ${backend} backend needs ${missing.join(', ')} on this machine: apt-get install util-linux iproute2 (or run ci/setup.sh)`)
  }
}

export const netnsBackend: Backend = {
  name: 'netns',
  preflight: () => netnsPreflight(),
  async provision(topology: Topology): Promise<Lab> {
    if (process.getuid?.() !== 0) throw new Error(NEEDS_ROOT)
    const started = performance.now()
    const id = newLabId()
    const nodeNames = [...topology.hosts.map((h) => h.name), GATEWAY, INTERNET]
    const hostnames = new Map(topology.hosts.map((h) => [h.name, h.hostname]))
    const startedNodes = await Promise.allSettled(nodeNames.map((n) => startNode(id, hostnames.get(n) ?? n)))
    const nodes = new Map<string, NodeProcess>()
    startedNodes.forEach((r, i) => r.status === 'fulfilled' && nodes.set(nodeNames[i]!, r.value))
    const hosts = new Map<string, NetnsHost>()
    const destroy = async () => {
      await Promise.all([...nodes.values()].map(killNode))
      await Promise.all([...hosts.values()].map((h) => h.shellGone()))
    }
    const failed = startedNodes.find((r) => r.status === 'rejected')
    if (failed) {
      await destroy()
      throw (failed as PromiseRejectedResult).reason
    }
    for (const n of nodeNames) hosts.set(n, new NetnsHost(n, nodes.get(n)!))
    const pids = new Map(nodeNames.map((n) => [n, nodes.get(n)!.innerPid]))
    try {
      // Only the network namespace is entered for the wiring, so `netns PID` names the other
      // nodes by the PIDs seen from here.
      const wiring = await runProcess('nsenter', ['-t', String(pids.get(GATEWAY)), '-n', '--', 'sh', '-c', gatewayScript(topology, pids)], { timeoutMs: 10_000 })
      if (wiring.exitCode !== 0) throw new Error(`could not wire the underlay in the gateway: ${wiring.stderr}`)
      await Promise.all([
        ...topology.hosts.map((h) => hosts.get(h.name)!.succeed(hostScript(topology, h.underlayAddress))),
        hosts.get(INTERNET)!.succeed(internetScript(topology)),
      ])
    } catch (e) {
      await destroy()
      throw e
    }
    return {
      backend: 'netns',
      id,
      topology,
      hosts,
      facts: { backend: 'netns', provisionMs: String(Math.round(performance.now() - started)) },
      // cgroup v1 hierarchies are the machine's: a lab's cgroups there are every lab's.
      machineWide: ['cgroup1_freezer'],
      noReplyWaitS: LOCAL_KERNEL_NO_REPLY_WAIT_S,
      host: hostLookup(hosts, 'netns'),
      destroy,
    }
  },
}
