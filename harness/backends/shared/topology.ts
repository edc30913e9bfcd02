// The wiring every backend gives the picture in harness/topology.ts, as shell scripts run inside
// the nodes: the gateway owns the underlay segment as a bridge and routes to the internet host;
// each host gets its underlay address and default route; the internet host answers its public
// addresses. Backends differ only in how the links reach the nodes.
import { shellQuote } from '../../host.ts'
import { INTERNET, stripPrefix, type Topology } from '../../topology.ts'

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

