// The embedded default backend: every node of the topology (host01, host02, gateway, internet)
// is a namespace node (shared/namespace-node.ts: its own network, mount, UTS and PID namespaces
// and root file system), so `ip netns add ns1` in Host 01 and in Host 02 are different
// namespaces and a lab's writes never reach the machine. Nothing is linked to the machine's own
// network namespace: no packet can leave.
import { hostLookup, LOCAL_KERNEL_NO_REPLY_WAIT_S, newLabId, type Backend, type Lab } from '../../lab.ts'
import { runProcess } from '../../local-process.ts'
import { GATEWAY, INTERNET, type Topology } from '../../topology.ts'
import { killNode, namespaceNodePreflight, NetnsHost, startNode, toolPath, type NodeProcess } from '../shared/namespace-node.ts'
import { gatewayBatch, hostBatch, internetBatch } from '../shared/topology.ts'

const NEEDS_ROOT = 'the netns backend needs root: run labproof as root (sudo), or choose --backend docker'

export const netnsBackend: Backend = {
  name: 'netns',
  preflight: () => namespaceNodePreflight('netns', NEEDS_ROOT),
  async provision(topology: Topology): Promise<Lab> {
    if (process.getuid?.() !== 0) throw new Error(NEEDS_ROOT)
    const started = performance.now()
    const id = newLabId()
    const nodeNames = [...topology.hosts.map((h) => h.name), GATEWAY, INTERNET]
    const hostnames = new Map(topology.hosts.map((h) => [h.name, h.hostname]))
    // The gateway forwards; a host does not until its lab says so; the internet host keeps the
    // default. Each node starts its shell with it.
    const ipForward = (n: string) => n === GATEWAY ? 1 : n === INTERNET ? undefined : 0
    const startedNodes = await Promise.allSettled(nodeNames.map((n) => startNode(id, hostnames.get(n) ?? n, { ipForward: ipForward(n) })))
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
      // nodes by the PIDs seen from here. One `ip` per node reads all of its commands.
      const wiring = await runProcess(toolPath('nsenter'), ['-t', String(pids.get(GATEWAY)), '-n', '--', toolPath('ip'), '-batch', '-'],
        { input: gatewayBatch(topology, pids), timeoutMs: 10_000 })
      if (wiring.exitCode !== 0) throw new Error(`could not wire the underlay in the gateway: ${wiring.stderr}`)
      // In each node's own shell: `exec`, so its job's shell becomes ip instead of forking it.
      const ipBatch = `exec ${toolPath('ip')} -batch -`
      await Promise.all([
        ...topology.hosts.map((h) => hosts.get(h.name)!.succeed(ipBatch, { input: hostBatch(topology, h.underlayAddress) })),
        hosts.get(INTERNET)!.succeed(ipBatch, { input: internetBatch(topology) }),
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
