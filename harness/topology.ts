// The picture every backend builds: Host 01 and Host 02 on an underlay segment (ens33,
// 192.168.21.0/24 by default), a gateway router on that segment as their default route, and a
// simulated internet host (8.8.8.8) behind the gateway. The gateway and the internet host know
// only the underlay and the internet, never a lab's private subnets: a namespace behind a host
// reaches 8.8.8.8 only once that host masquerades. Nothing here is connected to the machine's real network.
import { cidrProblem, hostnameProblem, inSubnet, interfaceNameProblem, ipv4Problem } from './scenario/values.ts'

export interface HostSpec {
  /** Scenario name: "host01". */
  name: string
  /** What `hostname` prints inside: "host-01". */
  hostname: string
  /** Address with prefix on the underlay interface: "192.168.21.11/24". */
  underlayAddress: string
}

export interface Topology {
  underlay: {
    /** Name of each host's underlay interface, as the documents call it. */
    interface: string
    /** Gateway address on the underlay, the hosts' default route. */
    gateway: string
    prefixLength: number
    /** The underlay network: "192.168.21.0/24". */
    subnet: string
  }
  hosts: HostSpec[]
  internet: {
    /** Addresses the simulated internet host answers on. */
    addresses: string[]
    /** Point-to-point link between the gateway and the internet host. */
    gatewayTransit: string
    internetTransit: string
  }
}

export const GATEWAY = 'gateway'
export const INTERNET = 'internet'
export const DEFAULT_HOST_NAMES = ['host01', 'host02'] as const

export interface TopologyOverrides {
  interface?: string
  gateway?: string
  hosts?: Record<string, { underlay?: string; hostname?: string }>
  internet?: string[]
}

/** A problem with the overrides, with the scenario field it is about. */
export interface TopologyProblem {
  path: (string | number)[]
  message: string
}

function hostSpecs(o: TopologyOverrides): HostSpec[] {
  const names = new Set<string>([...DEFAULT_HOST_NAMES, ...Object.keys(o.hosts ?? {})])
  return [...names].map((name, i) => {
    const given = o.hosts?.[name]
    return {
      name,
      hostname: given?.hostname ?? defaultHostname(name),
      underlayAddress: given?.underlay ?? `192.168.21.${11 + i}/24`,
    }
  })
}

/** What is wrong with a scenario's `underlay:` and `hosts:` taken together (the defaults filled
 *  in): names and addresses each valid, every host on one subnet with one prefix, no address
 *  twice, the gateway inside that subnet and no host's address. The scenario schema reports
 *  these at load; buildTopology refuses them too, for callers that skip the schema. */
export function topologyProblems(o: TopologyOverrides): TopologyProblem[] {
  const problems: TopologyProblem[] = []
  const add = (path: (string | number)[], message: string | undefined) => message && problems.push({ path, message })
  if (o.interface !== undefined) add(['underlay', 'interface'], interfaceNameProblem(o.interface))
  if (o.gateway !== undefined) add(['underlay', 'gateway'], ipv4Problem(o.gateway))
  for (const [name, h] of Object.entries(o.hosts ?? {})) {
    if (h.hostname !== undefined) add(['hosts', name, 'hostname'], hostnameProblem(h.hostname))
    if (h.underlay !== undefined) add(['hosts', name, 'underlay'], cidrProblem(h.underlay, 'interface'))
  }
  if (problems.length) return problems
  const hosts = hostSpecs(o)
  const first = hosts[0]!
  const where = (h: HostSpec) => (o.hosts?.[h.name]?.underlay !== undefined ? ['hosts', h.name, 'underlay'] : ['hosts'])
  const seen = new Map<string, string>()
  for (const h of hosts) {
    const address = stripPrefix(h.underlayAddress)
    if (h !== first && (h.underlayAddress.split('/')[1] !== first.underlayAddress.split('/')[1] || !inSubnet(address, first.underlayAddress))) {
      add(where(h), `${h.name} (${h.underlayAddress}) is not on the underlay subnet of ${first.name} (${first.underlayAddress}): hosts share one subnet and prefix`)
    }
    const other = seen.get(address)
    if (other) add(where(h), `${h.name} has the address ${address} of ${other}`)
    seen.set(address, h.name)
  }
  if (o.gateway !== undefined && !problems.length) {
    if (!inSubnet(o.gateway, first.underlayAddress)) add(['underlay', 'gateway'], `${o.gateway} is outside the underlay subnet ${hostInSubnet(first.underlayAddress, 0)}/${first.underlayAddress.split('/')[1]}: the hosts could not reach their gateway`)
    else if (cidrProblem(`${o.gateway}/${first.underlayAddress.split('/')[1]}`, 'interface')) add(['underlay', 'gateway'], cidrProblem(`${o.gateway}/${first.underlayAddress.split('/')[1]}`, 'interface'))
    else if (seen.has(o.gateway)) add(['underlay', 'gateway'], `${o.gateway} is the address of ${seen.get(o.gateway)}`)
  }
  return problems
}

export function buildTopology(o: TopologyOverrides = {}): Topology {
  const problem = topologyProblems(o)[0]
  if (problem) throw new Error(`${problem.path.join('.')}: ${problem.message}`)
  const hosts = hostSpecs(o)
  const first = hosts[0]!.underlayAddress
  const prefixLength = Number(first.split('/')[1] ?? 24)
  return {
    underlay: {
      interface: o.interface ?? 'ens33',
      gateway: o.gateway ?? hostInSubnet(first, 1),
      prefixLength,
      subnet: `${hostInSubnet(first, 0)}/${prefixLength}`,
    },
    hosts,
    internet: {
      addresses: o.internet ?? ['8.8.8.8'],
      gatewayTransit: '100.64.0.1/30',
      internetTransit: '100.64.0.2/30',
    },
  }
}

function defaultHostname(name: string): string {
  const m = /^host(\d+)$/.exec(name)
  return m ? `host-${m[1]}` : name
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: ${ip}`)
  }
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

export function stripPrefix(cidr: string): string {
  return cidr.split('/')[0]!
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

/** The n-th address of the subnet `cidr` lies in: hostInSubnet("192.168.21.11/24", 1) = 192.168.21.1 */
export function hostInSubnet(cidr: string, n: number): string {
  const prefix = Number(cidr.split('/')[1] ?? 32)
  return intToIp((((ipToInt(stripPrefix(cidr)) & maskOf(prefix)) >>> 0) + n) >>> 0)
}
