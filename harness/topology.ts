// The picture every backend builds: Host 01 and Host 02 on an underlay segment (ens33,
// 192.168.21.0/24 by default), a gateway router on that segment as their default route, and a
// simulated internet host (8.8.8.8) behind the gateway. The gateway and the internet host know
// only the underlay and the internet, never a lab's private subnets: a namespace behind a host
// reaches 8.8.8.8 only once that host masquerades. Nothing here is connected to the machine's real network.

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

export function buildTopology(o: TopologyOverrides = {}): Topology {
  const names = new Set<string>([...DEFAULT_HOST_NAMES, ...Object.keys(o.hosts ?? {})])
  const hosts: HostSpec[] = [...names].map((name, i) => {
    const given = o.hosts?.[name]
    return {
      name,
      hostname: given?.hostname ?? defaultHostname(name),
      underlayAddress: given?.underlay ?? `192.168.21.${11 + i}/24`,
    }
  })
  const first = hosts[0]!.underlayAddress
  const prefixLength = Number(first.split('/')[1] ?? 24)
  for (const h of hosts) {
    if (!sameSubnet(h.underlayAddress, first)) {
      throw new Error(`hosts ${hosts[0]!.name} (${first}) and ${h.name} (${h.underlayAddress}) are not on one underlay subnet`)
    }
  }
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

export function sameSubnet(a: string, b: string): boolean {
  const prefix = Number(a.split('/')[1] ?? 32)
  const mask = maskOf(prefix)
  return ((ipToInt(stripPrefix(a)) & mask) >>> 0) === ((ipToInt(stripPrefix(b)) & mask) >>> 0)
}

/** The n-th address of the subnet `cidr` lies in: hostInSubnet("192.168.21.11/24", 1) = 192.168.21.1 */
export function hostInSubnet(cidr: string, n: number): string {
  const prefix = Number(cidr.split('/')[1] ?? 32)
  return intToIp((((ipToInt(stripPrefix(cidr)) & maskOf(prefix)) >>> 0) + n) >>> 0)
}
