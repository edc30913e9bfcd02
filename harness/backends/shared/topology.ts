// The wiring every backend gives the picture in harness/topology.ts, run inside the nodes: the
// gateway owns the underlay segment as a bridge and routes to the internet host; each host gets
// its underlay address and default route; the internet host answers its public addresses.
// Backends differ only in how the links reach the nodes.
//
// Each part is a list of `ip` commands, given either as a shell script (one `ip` per command) or
// as one `ip -batch -` input (one process for them all: the netns backend's way).
import { shellQuote } from '../../host.ts'
import { INTERNET, stripPrefix, type Topology } from '../../topology.ts'

/** The words of one `ip` command, after `ip`. */
type IpCommand = string[]

/** The gateway's commands: the underlay bridge, a veth port on it for each of `vethHosts` (the
 *  hosts given one; other backends plug in their own), the link to the internet host and its
 *  routes. Every value from a scenario was validated at load (topologyProblems). */
function gatewayCommands(t: Topology, pids: Map<string, number>, vethHosts = t.hosts): IpCommand[] {
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
export function gatewayScript(t: Topology, pids: Map<string, number>, vethHosts = t.hosts): string {
  return [...gatewayCommands(t, pids, vethHosts).map(ipLine), 'sysctl -qw net.ipv4.ip_forward=1'].join(' && ')
}

/** The same for `ip -batch -`; the gateway's forwarding is set apart (netns-root.ts ipForward). */
export function gatewayBatch(t: Topology, pids: Map<string, number>, vethHosts = t.hosts): string {
  return ipBatch(gatewayCommands(t, pids, vethHosts))
}

function pidOf(pids: Map<string, number>, name: string): number {
  const pid = pids.get(name)
  if (!Number.isInteger(pid)) throw new Error(`no node process for ${name}`)
  return pid!
}

function hostCommands(t: Topology, underlayAddress: string): IpCommand[] {
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

/** The same for `ip -batch -`; the host's forwarding is set apart (netns-root.ts ipForward). */
export function hostBatch(t: Topology, underlayAddress: string): string {
  return ipBatch(hostCommands(t, underlayAddress))
}

function internetCommands(t: Topology): IpCommand[] {
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

export function internetBatch(t: Topology): string {
  return ipBatch(internetCommands(t))
}

/** Each word quoted for the shell. */
const ipLine = (words: IpCommand) => `ip ${words.map(shellQuote).join(' ')}`

/** A word `ip -batch` reads as one word and as it is (no space, quote, `#` or backslash). */
const BATCH_WORD = /^[\w.:/+-]+$/

/** One command a line. `ip -batch` splits a line at spaces and reads quotes: a validated value
 *  has none of those, and one that had would be refused here rather than misread. */
export function ipBatch(commands: IpCommand[]): string {
  for (const w of commands.flat()) {
    if (!BATCH_WORD.test(w)) throw new Error(`"${w}" cannot be given to ip -batch (letters, digits and . : / + - _ only)`)
  }
  return commands.map((c) => `${c.join(' ')}\n`).join('')
}
