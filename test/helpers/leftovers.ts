// What labproof could leave on this machine, found the way `labproof clean` finds it: processes
// by the markers on their command lines, temp dirs by name, docker resources by label. A
// resource counts as left behind when the labproof process that owns it is gone (runs of other
// people on this machine, still going, are not counted).
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { NETNS_MARKER } from '../../harness/backends/shared/namespace-node.ts'
import { QEMU_MARKER } from '../../harness/backends/qemu/qemu.ts'
import { PCAP_TEMP_PREFIX } from '../../harness/capture/tcpdump.ts'
import { ownerAlive, parseOwnerTag, OWNER_TAG_PATTERN, type Owner } from '../../harness/ownership/owner.ts'

export function netnsNodePids(filter: { labId?: string; owner?: number } = {}): number[] {
  const pids: number[] = []
  for (const p of processes()) {
    const marker = p.argv.find((a) => a.startsWith(`${NETNS_MARKER}:`))
    if (!marker) continue
    const [, labId, owner] = marker.split(':')
    if ((!filter.labId || labId === filter.labId) && (!filter.owner || parseOwnerTag(owner)?.pid === filter.owner)) pids.push(p.pid)
  }
  return pids
}

interface Proc {
  pid: number
  ppid: number
  /** Clock ticks after boot: with the PID, names the process (a PID is reused, this pair is not). */
  started: number
  comm: string
  argv: string[]
  cgroup: () => string
}

/** Every process now, with its parent and command line. */
export function processes(): Proc[] {
  const found: Proc[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const close = stat.lastIndexOf(')')
      const fields = stat.slice(close + 2).split(' ')
      if (fields[0] === 'Z') continue // exited, waiting for its parent: nothing is running
      found.push({
        pid: Number(entry),
        ppid: Number(fields[1]),
        started: Number(fields[19]),
        comm: stat.slice(stat.indexOf('(') + 1, close),
        argv: readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean),
        cgroup: () => safeRead(`/proc/${entry}/cgroup`),
      })
    } catch {
      // exited meanwhile
    }
  }
  return found
}

export interface LeftoverCounts {
  /** netns nodes (host, gateway, internet processes) whose labproof process is gone. */
  netnsNodes: string[]
  /** tcpdump processes in such a node, or orphaned outside any node and container. */
  tcpdumps: string[]
  /** qemu VMs whose labproof process is gone. */
  qemuVms: string[]
  /** labproof-pcap-<pid>-* and labproof-qemu-*-<pid>-* under the temp dir, owner gone. */
  tempDirs: string[]
  /** Docker containers and networks labelled labproof.lab whose owner is gone (when an engine answers). */
  dockerContainers: string[]
  dockerNetworks: string[]
  /** Entries of /run/netns in this machine's own namespace (labproof never makes any). */
  rootNetns: string[]
  /** DOCKER-USER rules labproof added for a lab bridge that no longer exists (local engine). */
  firewallRules: string[]
}

/** `owner` field of a `marker:<lab>:<owner>:<host>` argument, if the process has one. */
function ownerOf(p: Proc, marker: string): Owner | undefined {
  const m = p.argv.find((a) => a.startsWith(`${marker}:`))
  return m ? parseOwnerTag(m.split(':')[2]) ?? { pid: 0 } : undefined
}

/** `owners`: count only what these processes owned (a test's own runs), not other people's. */
export async function leftovers(opts: { rootNetnsBefore?: string[]; owners?: Set<number> } = {}): Promise<LeftoverCounts> {
  const procs = processes()
  const byPid = new Map(procs.map((p) => [p.pid, p]))
  const gone = (owner: Owner | number | undefined) => {
    if (owner === undefined) return false
    const pid = typeof owner === 'number' ? owner : owner.pid
    return !ownerAlive(owner) && (!opts.owners || opts.owners.has(pid))
  }
  const staleNode = (p: Proc) => gone(ownerOf(p, NETNS_MARKER))
  /** The nearest ancestor that is a netns node, if any. */
  const nodeOf = (p: Proc): Proc | undefined => {
    for (let q: Proc | undefined = p, hops = 0; q && hops < 64; q = byPid.get(q.ppid), hops++) {
      if (ownerOf(q, NETNS_MARKER) !== undefined) return q
    }
    return undefined
  }
  const label = (p: Proc) => `${p.pid} ${p.argv.join(' ').slice(0, 120)}`
  const netnsNodes = procs.filter(staleNode).map(label)
  const tcpdumps = procs.filter((p) => p.comm === 'tcpdump').filter((p) => {
    const node = nodeOf(p)
    if (node) return staleNode(node)
    return p.ppid === 1 && !/docker|containerd/.test(p.cgroup()) && (!opts.owners || opts.owners.has(p.pid))
  }).map(label)
  const qemuVms = procs.filter((p) => gone(ownerOf(p, QEMU_MARKER))).map(label)
  const tempDirs = readdirSync(tmpdir()).filter((name) => {
    const m = new RegExp(`^(?:${PCAP_TEMP_PREFIX}(\\d+)-|${QEMU_MARKER}-\\w+-(${OWNER_TAG_PATTERN})-)`).exec(name)
    return m !== null && gone(m[1] ? Number(m[1]) : parseOwnerTag(m[2]))
  }).map((name) => path.join(tmpdir(), name))
  const rootNetns = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => !(opts.rootNetnsBefore ?? []).includes(n)) : []
  const docker = await dockerLeftovers(opts.owners)
  return { netnsNodes, tcpdumps, qemuVms, tempDirs, dockerContainers: docker.containers, dockerNetworks: docker.networks, rootNetns, firewallRules: staleFirewallRules() }
}

/** labproof's DOCKER-USER and DOCKER-ISOLATION-STAGE-1 rules whose bridge is gone, in whichever
 *  iptables holds the chains.
 *  A legacy table is listed only when it exists (listing one would create it). */
function staleFirewallRules(): string[] {
  const script = [
    'for t in iptables-nft ip6tables-nft iptables-legacy ip6tables-legacy; do',
    '  command -v $t >/dev/null 2>&1 || continue',
    '  case $t in iptables-legacy) grep -qx filter /proc/net/ip_tables_names 2>/dev/null || continue ;; ip6tables-legacy) grep -qx filter /proc/net/ip6_tables_names 2>/dev/null || continue ;; esac',
    '  for chain in DOCKER-USER DOCKER-ISOLATION-STAGE-1; do $t -w -S $chain 2>/dev/null | grep -- "labproof:" | sed "s/^/$t /"; done',
    'done; true',
  ].join('\n')
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8' })
  return (r.stdout ?? '').split('\n').filter(Boolean).filter((rule) => {
    const bridge = / -i (\S+) /.exec(rule)?.[1]
    return !bridge || !existsSync(`/sys/class/net/${bridge}`)
  })
}

export function rootNetnsEntries(): string[] {
  return existsSync('/run/netns') ? readdirSync('/run/netns') : []
}

async function dockerLeftovers(owners?: Set<number>): Promise<{ containers: string[]; networks: string[] }> {
  let docker
  try {
    const { dockerClient } = await import('../../harness/backends/docker/docker-image.ts')
    docker = await dockerClient()
  } catch {
    return { containers: [], networks: [] } // no engine: nothing of labproof's can be there
  }
  const { LABEL_LAB, LABEL_RUN, ownerIsGone } = await import('../../harness/backends/docker/docker-reaper.ts')
  const filters = JSON.stringify({ label: [LABEL_LAB] })
  const [containers, networks] = await Promise.all([docker.listContainers({ all: true, filters }), docker.listNetworks({ filters })])
  const ours = (labels: Record<string, string> | undefined) => ownerIsGone(labels) && (!owners || owners.has(Number(labels?.[LABEL_RUN])))
  return {
    containers: containers.filter((c) => ours(c.Labels)).map((c) => c.Names[0] ?? c.Id),
    networks: networks.filter((n) => ours(n.Labels)).map((n) => n.Name),
  }
}

export function totalLeftovers(c: LeftoverCounts): number {
  return Object.values(c).reduce((n, list: string[]) => n + list.length, 0)
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}
