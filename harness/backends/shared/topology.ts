// The wiring every backend gives the picture in harness/topology.ts, run inside the nodes: the
// gateway owns the underlay segment as a bridge and routes to the internet host; each host gets
// its underlay address and default route; the internet host answers its public addresses.
// Backends differ only in how the links reach the nodes.
//
// Each part is a list of `ip` commands, given either as a shell script (one `ip` per command) or
// as the commands themselves, which the netns backend sends as netlink requests (netlink.ts).
import { shellQuote } from '../../host.ts'
import { INTERNET, stripPrefix, type Topology } from '../../topology.ts'

/** The words of one `ip` command, after `ip`. */
export type IpCommand = string[]

/** Where `ip … netns X` finds each other node's network namespace: a PID as seen where the
 *  wiring runs, or `node:NAME`, which the netns nodes' maker replaces with it (netlink.ts). */
export type NodeNetns = Map<string, number | `node:${string}`>

/** The gateway's commands: the underlay bridge, a veth port on it for each of `vethHosts` (the
 *  hosts given one; other backends plug in their own), the link to the internet host and its
 *  routes. Every value from a scenario was validated at load (topologyProblems). */
export function gatewayCommands(t: Topology, pids: NodeNetns, vethHosts = t.hosts): IpCommand[] {
  return [
    ['link', 'add', 'underlay', 'type', 'bridge'],
    ['addr', 'add', `${t.underlay.gateway}/${t.underlay.prefixLength}`, 'brd', '+', 'dev', 'underlay'],
    ['link', 'set', 'underlay', 'up'],
    ...vethHosts.flatMap((h) => [
      ['link', 'add', `port-${h.name}`, 'type', 'veth', 'peer', 'name', t.underlay.interface, 'netns', String(pidOf(pids, h.name))],
      ['link', 'set', `port-${h.name}`, 'master', 'underlay', 'up'],
    ]),
    ['link', 'add', 'wan', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(pidOf(pids, INTERNET))],
    ['addr', 'add', t.internet.gatewayTransit, 'dev', 'wan'],
    ['link', 'set', 'wan', 'up'],
    ...t.internet.addresses.map((a) => ['route', 'add', `${a}/32`, 'via', stripPrefix(t.internet.internetTransit)]),
  ]
}

/** The gateway's wiring as a script, run in its network namespace: `netns PID` names the other
 *  nodes by the PIDs seen from where it runs. */
export function gatewayScript(t: Topology, pids: NodeNetns, vethHosts = t.hosts): string {
  return [...gatewayCommands(t, pids, vethHosts).map(ipLine), 'sysctl -qw net.ipv4.ip_forward=1'].join(' && ')
}

function pidOf(pids: NodeNetns, name: string): number | string {
  const pid = pids.get(name)
  if (pid === undefined || (typeof pid === 'number' && !Number.isInteger(pid))) throw new Error(`no node process for ${name}`)
  return pid
}

export function hostCommands(t: Topology, underlayAddress: string): IpCommand[] {
  return [
    // `brd +`: the subnet's broadcast address, as DHCP or a distro's network configuration sets
    // it on a real host's NIC (`ifconfig` shows it: broadcast 192.168.21.255).
    ['addr', 'add', underlayAddress, 'brd', '+', 'dev', t.underlay.interface],
    ['link', 'set', t.underlay.interface, 'up'],
    ['route', 'add', 'default', 'via', t.underlay.gateway],
  ]
}

export function hostScript(t: Topology, underlayAddress: string): string {
  // A new network namespace inherits IPv4 settings from the machine's own; a fresh host
  // does not forward until the lab turns it on.
  return [...hostCommands(t, underlayAddress).map(ipLine), 'sysctl -qw net.ipv4.ip_forward=0'].join(' && ')
}

export function internetCommands(t: Topology): IpCommand[] {
  return [
    ['addr', 'add', t.internet.internetTransit, 'dev', 'eth0'],
    ['link', 'set', 'eth0', 'up'],
    ...t.internet.addresses.map((a) => ['addr', 'add', `${a}/32`, 'dev', 'lo']),
    // Like a real internet: it can answer the hosts' public (underlay) addresses, and has no
    // route at all to a lab's private subnets, so a private source never gets a reply.
    ['route', 'add', t.underlay.subnet, 'via', stripPrefix(t.internet.gatewayTransit)],
  ]
}

export function internetScript(t: Topology): string {
  return internetCommands(t).map(ipLine).join(' && ')
}

/** Each word quoted for the shell. */
const ipLine = (words: IpCommand) => `ip ${words.map(shellQuote).join(' ')}`
