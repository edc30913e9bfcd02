// The docker backend: every node of the topology (host01, host02, gateway, internet) is a
// container of the lab host image, on two `--internal` networks (no packet leaves the machine):
// the underlay segment and the transit link between the gateway and the internet host.
//
// Inside, each node is rewired to the picture the netns backend builds: docker's addresses and
// routes are replaced by the topology's (so two labs with the same subnets can run at once, and
// the machine's own namespace never routes a lab's subnet), the underlay interface is `ens33`,
// the gateway forwards and knows only the underlay and the internet, the internet host answers
// on 8.8.8.8 and routes everything back to the gateway.
//
// Containers get NET_ADMIN, SYS_ADMIN and NET_RAW with seccomp, AppArmor and the /proc and /sys
// masks lifted: enough for `ip netns`, bridges, tunnels and tcpdump, on engines that refuse
// --privileged. --privileged is used only when asked for.
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { release } from 'node:os'
import path from 'node:path'
import type Dockerode from 'dockerode'
import { BaseHost } from '../../base-host.ts'
import { hostLookup, LOCAL_KERNEL_NO_REPLY_WAIT_S, newLabId, type Backend, type Lab, type ProvisionOptions } from '../../lab.ts'
import { GATEWAY, INTERNET, stripPrefix, type Topology } from '../../topology.ts'
import { shellQuote, type Host } from '../../host.ts'
import { firstTarEntry } from './docker-archive.ts'
import { containerShellTransport, execInContainer } from './docker-exec.ts'
import { HostShell, SERVER_SCRIPT, SHELL_DIR, ShellServer, type BatchItem } from '../../shell-server.ts'
import { dockerClient, ensureHostImage, HOST_DISTROS, isHostDistro, type Progress } from './docker-image.ts'
import { hostScript, internetScript } from '../shared/topology.ts'
import { acceptBridgedScript, bridgeName, runOnEngineHost } from './docker-bridge-firewall.ts'
import { LABEL_IMAGE, LABEL_LAB, makeForLab, ownerLabels, reapDocker, sweepStaleOnce, trackLab, untrackLab } from './docker-reaper.ts'

export { reapDocker } from './docker-reaper.ts'

export interface DockerProvisionOptions extends ProvisionOptions {
  /** Run the containers with --privileged instead of the explicit capabilities. */
  privileged?: boolean
  /** Any existing image instead of labproof's host image (also accepted as `distro`). */
  image?: string
  onProgress?: Progress
}

const CAPABILITIES = ['NET_ADMIN', 'SYS_ADMIN', 'NET_RAW']
const SECURITY_OPTS = ['seccomp=unconfined', 'apparmor=unconfined']
// `--security-opt systempaths=unconfined` is a CLI spelling: the API takes empty path masks.
const UNMASKED_SYSTEM_PATHS = { MaskedPaths: [], ReadonlyPaths: [] }
/** A hang guard only: a wiring script is a few `ip` commands through `docker exec`, which took
 *  over 15 s at load 27 on 2 cores (the docker bench died wiring the gateway with 15 s). */
const WIRING_TIMEOUT_MS = 60_000
/** Like a host's own cgroup namespace: its cgroup root is `/`, and a cgroup v1 hierarchy
 *  mounted inside shows only the container's part of the machine's. (Engine API 1.41; not in
 *  dockerode's types.) */
const PRIVATE_CGROUP_NAMESPACE: object = { CgroupnsMode: 'private' }

class DockerHost extends BaseHost {
  constructor(name: string, private readonly container: Dockerode.Container) {
    super(name)
  }

  /** The container's command shell; a command costs a fork in the container instead of an
   *  exec through the engine (about 40 ms). Needs the engine on this machine (its /proc). */
  private readonly shell = new HostShell(async () => {
    const pid = (await this.container.inspect()).State.Pid
    return ShellServer.start(await containerShellTransport(this.container, ['sh', '-c', SERVER_SCRIPT]), `/proc/${pid}/root${SHELL_DIR}`, this.name)
  })

  protected async runShell(script: string, opts: { timeoutMs: number; input?: string }) {
    return (await this.shell.run(script, opts)) ?? execInContainer(this.container, script, opts)
  }

  protected override async runShellBatch(items: BatchItem[]) {
    return (await this.shell.server())?.runBatch(items)
  }

  async copyFrom(remotePath: string, localPath: string): Promise<void> {
    let wanted = remotePath
    for (let links = 0; links < 8; links++) {
      let archive: NodeJS.ReadableStream
      try {
        archive = await this.container.getArchive({ path: wanted })
      } catch (e) {
        // The archive API reads the container's own file system, not mounts made inside it
        // (a tmpfs a lab mounted): read those through the shell, base64 to stay binary-safe.
        if ((e as { statusCode?: number }).statusCode === 404) return this.copyThroughShell(remotePath, localPath)
        throw new Error(`copyFrom ${this.name}:${remotePath} failed: ${(e as Error).message}`)
      }
      const chunks: Buffer[] = []
      for await (const chunk of archive) chunks.push(Buffer.from(chunk as Buffer))
      const entry = firstTarEntry(Buffer.concat(chunks))
      if (entry.kind === 'file') return writeFile(localPath, entry.content)
      if (entry.kind === 'other') throw new Error(`copyFrom ${this.name}:${remotePath}: not a regular file (tar type ${entry.typeflag})`)
      wanted = path.posix.resolve(path.posix.dirname(wanted), entry.target)
    }
    throw new Error(`copyFrom ${this.name}:${remotePath}: too many symbolic links`)
  }

  private async copyThroughShell(remotePath: string, localPath: string): Promise<void> {
    const r = await this.exec(`test -f ${shellQuote(remotePath)} && base64 < ${shellQuote(remotePath)}`, { timeoutMs: 120_000 })
    if (r.exitCode !== 0) {
      throw new Error(`copyFrom ${this.name}:${remotePath} failed: no such regular file in the container (exit ${r.exitCode}) ${r.stderr}`.trim())
    }
    await writeFile(localPath, Buffer.from(r.stdout, 'base64'))
  }
}

/** A shell function that prints the name of the interface with MAC address $1. */
const IFNAME_BY_MAC = 'ifname() { for d in /sys/class/net/*; do [ "$(cat "$d/address")" = "$1" ] && echo "${d##*/}" && return 0; done; echo "no interface with MAC $1" >&2; return 1; }'

/** Rename docker's interface to `name`, with none of docker's addresses or routes left on it. */
function claimInterface(mac: string, name: string): string[] {
  // The name was checked at load (an interface name); quoted all the same.
  const q = shellQuote
  return [
    `dev=$(ifname ${q(mac)})`,
    'ip link set "$dev" down',
    `if [ "$dev" != ${q(name)} ]; then ip link set "$dev" name ${q(name)}; fi`,
    `ip addr flush dev ${q(name)}`,
    `sysctl -qw ${q(`net.ipv6.conf.${name}.disable_ipv6=0`)}`,
    // Docker makes its veths with no transmit queue; a real NIC (and a veth made by `ip link`)
    // has the kernel's default of 1000, which `ifconfig` shows.
    `ip link set ${q(name)} txqueuelen 1000`,
  ]
}

/** Undo what docker sets in every container that a fresh network namespace would not have. */
const UNDO_DOCKER = [
  // sysfs is mounted read-only for unprivileged containers; netns nodes can write to theirs.
  'mount -o remount,rw /sys',
  // So are the cgroup file systems; a real host's are writable. Each container has its own
  // cgroup namespace: what a lab makes there (cgroup v1 examples) stays inside its cgroup,
  // which docker removes with the container.
  '{ [ "$(stat -f -c %T /sys/fs/cgroup)" != tmpfs ] || mount -o remount,rw /sys/fs/cgroup; }',
  `for m in $(awk '$3 ~ /^cgroup2?$/ && index($2, "/sys/fs/cgroup") == 1 {print $2}' /proc/self/mounts); do mount -o remount,bind,rw "$m" || { echo "cannot make $m writable" >&2; exit 1; }; done`,
  // Docker turns IPv6 off in containers of IPv4-only networks.
  'sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 net.ipv6.conf.lo.disable_ipv6=0',
  // Docker lets unprivileged users bind low ports and open ping sockets; a fresh namespace does not.
  "sysctl -qw net.ipv4.ip_unprivileged_port_start=1024 'net.ipv4.ping_group_range=1 0'",
  // Docker's embedded DNS adds NAT rules; a lab's `iptables -t nat -S` must start empty.
  '{ command -v nft >/dev/null 2>&1 && nft delete table ip nat 2>/dev/null; true; }',
  // (legacy tables only when docker made one: listing them would create them)
  '{ if grep -qx nat /proc/net/ip_tables_names 2>/dev/null && command -v iptables-legacy >/dev/null 2>&1; then iptables-legacy -t nat -F && iptables-legacy -t nat -X; fi; true; }',
  '{ if command -v iptables >/dev/null 2>&1 && iptables -t nat -S 2>/dev/null | grep -q DOCKER; then iptables -t nat -F && iptables -t nat -X; fi; true; }',
  // Unmasked system paths leave /proc/sys writable, and vm.* or kernel.* written there are the
  // machine's: read-only but net.* (kept per network namespace), as on netns hosts.
  'mount --bind /proc/sys /proc/sys && mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,ro /proc/sys',
]

function nodeScript(lines: string[]): string {
  return [IFNAME_BY_MAC, [...UNDO_DOCKER, ...lines].join(' && ')].join('\n')
}

function gatewayScript(t: Topology, underlayMac: string, transitMac: string): string {
  return nodeScript([
    ...claimInterface(underlayMac, 'underlay'),
    ...claimInterface(transitMac, 'wan'),
    `ip addr add ${shellQuote(`${t.underlay.gateway}/${t.underlay.prefixLength}`)} brd + dev underlay`,
    'ip link set underlay up',
    `ip addr add ${shellQuote(t.internet.gatewayTransit)} dev wan`,
    'ip link set wan up',
    ...t.internet.addresses.map((a) => `ip route add ${a}/32 via ${stripPrefix(t.internet.internetTransit)}`),
    // No default route and no route to any lab's private subnet: replies to those get nowhere.
    '{ ip route del default 2>/dev/null; true; }',
    'sysctl -qw net.ipv4.ip_forward=1',
  ])
}

/** The engine runs on this machine's kernel: share its modules so `modprobe`/`lsmod` see them. */
function localModules(info: { KernelVersion?: string }): string[] {
  const dir = `/lib/modules/${release()}`
  return info.KernelVersion === release() && existsSync(dir) ? ['/lib/modules:/lib/modules:ro'] : []
}

function privilegedRefusal(e: unknown): Error {
  const message = (e as Error).message ?? String(e)
  return /unable to apply caps|operation not permitted/i.test(message)
    ? new Error(`this engine refuses --privileged; use the default capability mode (${message.trim()})`)
    : (e as Error)
}

/** An engine that answers, and the distro or image asked for. */
async function dockerPreflight(opts: DockerProvisionOptions = {}): Promise<void> {
  const docker = await dockerClient()
  const wanted = opts.image ?? opts.distro
  if (!wanted || isHostDistro(wanted)) return
  const found = await docker.getImage(wanted).inspect().then(() => true, () => false)
  if (!found) {
    throw new Error(`"${wanted}" is neither a distro labproof builds (${HOST_DISTROS.join(', ')}) nor an image on this docker engine (labproof pulls nothing: docker load or build it first)`)
  }
}

export const dockerBackend: Backend = {
  name: 'docker',
  preflight: dockerPreflight,
  async provision(topology: Topology, opts: DockerProvisionOptions = {}): Promise<Lab> {
    const docker = await dockerClient()
    await sweepStaleOnce(docker)
    const image = await ensureHostImage({ distroOrImage: opts.image ?? opts.distro, onProgress: opts.onProgress })
    const privileged = opts.privileged ?? false
    const engine = await docker.info() as { KernelVersion?: string; ServerVersion?: string }

    const started = performance.now()
    const id = newLabId()
    const labels = ownerLabels(id)
    trackLab(id)
    const destroy = async () => {
      await reapDocker({ labIds: [id], docker })
      untrackLab(id)
    }
    try {
      const containers = await startContainers(docker, topology, { id, image, labels, privileged, binds: localModules(engine) })
      await wire(topology, containers)
      const hosts = new Map<string, Host>([...containers].map(([name, c]) => [name, new DockerHost(name, c.container)]))
      return {
        backend: 'docker',
        id,
        topology,
        hosts,
        facts: {
          backend: 'docker',
          image,
          engine: `docker ${engine.ServerVersion ?? '?'}`,
          kernel: engine.KernelVersion ?? '?',
          mode: privileged ? 'privileged' : `capabilities ${CAPABILITIES.join(',')}`,
          provisionMs: String(Math.round(performance.now() - started)),
        },
        noReplyWaitS: LOCAL_KERNEL_NO_REPLY_WAIT_S,
        host: hostLookup(hosts, 'docker'),
        destroy,
      }
    } catch (e) {
      await destroy().catch(() => undefined)
      throw privileged ? privilegedRefusal(e) : e
    }
  },
}

interface StartedNode {
  container: Dockerode.Container
  /** MAC address of the node's interface on each of its networks, in the order it joined them. */
  macs: string[]
}

async function startContainers(
  docker: Dockerode,
  t: Topology,
  o: { id: string; image: string; labels: Record<string, string>; privileged: boolean; binds: string[] },
): Promise<Map<string, StartedNode>> {
  // Docker picks the subnets: the topology's addresses are set inside, on top of these segments.
  const networkName = (role: string) => `labproof-${o.id}-${role}`
  const createNetwork = (role: string) => makeForLab(o.id, () => docker.createNetwork({
    Name: networkName(role),
    Driver: 'bridge',
    Internal: true,
    CheckDuplicate: true,
    Options: { 'com.docker.network.bridge.name': bridgeName(o.id, role) },
    Labels: { ...o.labels, 'labproof.network': role, [LABEL_IMAGE]: o.image },
  }))
  await Promise.all([createNetwork('underlay'), createNetwork('transit')])
  // Runs while the containers start; its failure is kept until awaited (no unhandled rejection).
  const firewall = runOnEngineHost(docker, o.image, acceptBridgedScript(o.id, ['underlay', 'transit'].map((r) => bridgeName(o.id, r))))
    .then(() => undefined, (e: unknown) => e)
  const hostnames = new Map(t.hosts.map((h) => [h.name, h.hostname]))
  const nodes: Array<[string, string[]]> = [
    ...t.hosts.map((h): [string, string[]] => [h.name, ['underlay']]),
    [GATEWAY, ['underlay', 'transit']],
    [INTERNET, ['transit']],
  ]
  const started = await Promise.all(nodes.map(async ([node, roles]) => {
    const [first, ...more] = roles.map(networkName)
    const container = await makeForLab(o.id, () => docker.createContainer({
      name: `labproof-${o.id}-${node}`,
      Image: o.image,
      Entrypoint: ['sleep'], // not the image's entrypoint: a user's --image may have one
      Cmd: ['infinity'],
      Hostname: hostnames.get(node) ?? node,
      Labels: { ...o.labels, 'labproof.node': node },
      HostConfig: {
        Init: true, // reaps what a killed command leaves behind
        ...PRIVATE_CGROUP_NAMESPACE,
        NetworkMode: first!,
        // `ip netns` keeps its namespaces on tmpfs on a real host (and lists them newest first,
        // as the documents show). Only /run/netns: the archive API cannot read a tmpfs, and
        // captures in /run must come home through it.
        // /tmp on a tmpfs of its own, so filling it fills no disk of the engine's.
        Tmpfs: { '/run/netns': 'rw,mode=755', '/tmp': 'rw,nosuid,nodev,mode=1777,size=512m' },
        Binds: o.binds,
        ...(o.privileged
          ? { Privileged: true }
          : {
              CapAdd: CAPABILITIES,
              SecurityOpt: SECURITY_OPTS,
              ...UNMASKED_SYSTEM_PATHS,
              Devices: [{ PathOnHost: '/dev/net/tun', PathInContainer: '/dev/net/tun', CgroupPermissions: 'rwm' }],
            }),
      },
    }))
    for (const name of more) await docker.getNetwork(name).connect({ Container: container.id })
    await container.start()
    const attached = (await container.inspect()).NetworkSettings.Networks
    const macs = [first!, ...more].map((name) => attached[name]?.MacAddress ?? '')
    return [node, { container, macs }] as const
  }))
  const firewallError = await firewall
  if (firewallError) throw firewallError
  return new Map(started)
}

async function wire(t: Topology, nodes: Map<string, StartedNode>): Promise<void> {
  const mac = (node: string, i = 0) => nodes.get(node)!.macs[i]!
  const scripts = new Map<string, string>([
    ...t.hosts.map((h): [string, string] => [h.name, nodeScript([...claimInterface(mac(h.name), t.underlay.interface), hostScript(t, h.underlayAddress)])]),
    [GATEWAY, gatewayScript(t, mac(GATEWAY, 0), mac(GATEWAY, 1))],
    [INTERNET, nodeScript([...claimInterface(mac(INTERNET), 'eth0'), internetScript(t)])],
  ])
  await Promise.all([...scripts].map(async ([node, script]) => {
    const r = await execInContainer(nodes.get(node)!.container, script, { timeoutMs: WIRING_TIMEOUT_MS })
    if (r.exitCode !== 0) {
      const why = r.exitCode === 124 ? `it did not finish within ${WIRING_TIMEOUT_MS / 1000} s` : `exit ${r.exitCode}`
      throw new Error(`could not wire the docker lab node ${node} (${why}):\n$ ${script}\n${r.stdout}${r.stderr}`)
    }
  }))
}

/** For `labproof clean` and tests: the labproof containers and networks the engine holds. */
export async function listDockerLabResources(): Promise<{ containers: string[]; networks: string[] }> {
  const docker = await dockerClient()
  const filters = JSON.stringify({ label: [LABEL_LAB] })
  const [containers, networks] = await Promise.all([docker.listContainers({ all: true, filters }), docker.listNetworks({ filters })])
  return { containers: containers.map((c) => c.Names[0] ?? c.Id), networks: networks.map((n) => n.Name) }
}

