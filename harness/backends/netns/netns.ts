// The embedded default backend: every node of the topology (host01, host02, gateway, internet)
// is a namespace node (shared/namespace-node.ts: its own network, mount, UTS and PID namespaces
// and root file system), so `ip netns add ns1` in Host 01 and in Host 02 are different
// namespaces and a lab's writes never reach the machine. Nothing is linked to the machine's own
// network namespace: no packet can leave.
import { hostLookup, LOCAL_KERNEL_NO_REPLY_WAIT_S, newLabId, type Backend, type Lab } from '../../lab.ts'
import { GATEWAY, INTERNET, type Topology } from '../../topology.ts'
import { namespaceNodePreflight, NetnsHost, startNodes } from '../shared/namespace-node.ts'
import { netlinkRequest } from '../shared/netlink.ts'
import { gatewayCommands, hostCommands, internetCommands, type IpCommand } from '../shared/topology.ts'

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
    // The wiring is sent as soon as every node has its network namespace, while their roots are
    // still being made: first the gateway's (the underlay bridge, and the veth pairs whose other
    // ends it puts in the hosts), then the hosts' and the internet host's. No `ip` process: the
    // same requests, sent by the nodes' maker itself.
    const on = (node: string, commands: IpCommand[]) => commands.map((c) => ({ on: node, request: netlinkRequest(c) }))
    const group = await startNodes(id, nodeNames.map((n) => ({ name: n, hostname: hostnames.get(n) ?? n, ipForward: ipForward(n) })), [
      ...on(GATEWAY, gatewayCommands(topology, new Map(nodeNames.map((n) => [n, `node:${n}` as const])))),
      ...topology.hosts.flatMap((h) => on(h.name, hostCommands(topology, h.underlayAddress))),
      ...on(INTERNET, internetCommands(topology)),
    ])
    const hosts = new Map(nodeNames.map((n) => [n, new NetnsHost(n, group.nodes.get(n)!)]))
    const destroy = async () => {
      await group.kill()
      await Promise.all([...hosts.values()].map((h) => h.shellGone()))
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
