// Students' machines for the grading tests: containers of the lab host image running Debian's
// openssh-server, each with its own freshly generated host key, on one `--internal` docker
// network (nothing is forwarded off this machine). This machine reaches them over that
// network's bridge. They carry the docker backend's labels, so `labproof clean` reaps them if
// a test run dies; `destroy()` removes them.
import { connect } from 'node:net'
import type Dockerode from 'dockerode'
import { execInContainer } from '../../harness/backends/docker/docker-exec.ts'
import { dockerClient, ensureHostImage } from '../../harness/backends/docker/docker-image.ts'
import { LABEL_IMAGE, ownerLabels, reapDocker, trackLab, untrackLab } from '../../harness/backends/docker/docker-reaper.ts'
import { newLabId } from '../../harness/lab.ts'

export interface StudentMachine {
  name: string
  container: string
  address: string
  /** `ssh-ed25519 AAAA…`, as in known_hosts. */
  hostKey: string
  /** Run a script as root inside, through the engine (to set the machine up, or to look). */
  run(script: string): Promise<{ exitCode: number; stdout: string; stderr: string }>
}

export interface StudentNetwork {
  machines: Map<string, StudentMachine>
  /** An address on the network that no machine answers on. */
  unusedAddress: string
  destroy(): Promise<void>
}

// As the docker backend runs its hosts: enough for `ip netns`, veth, bridges and iptables.
const HOST_CONFIG = {
  Init: true,
  CapAdd: ['NET_ADMIN', 'SYS_ADMIN', 'NET_RAW'],
  SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'],
  MaskedPaths: [],
  ReadonlyPaths: [],
}

const BOOT = [
  'set -e',
  // sysfs is read-only in unprivileged containers; `ip netns exec` mounts its own.
  'mount -o remount,rw /sys',
  // Only the network's own subnet: nothing a lab sends can be routed off the machine.
  'ip route del default 2>/dev/null || true',
  // A fresh Debian host does not forward; docker's containers start with forwarding on.
  'sysctl -qw net.ipv4.ip_forward=0',
  // The image carries the host keys made when it was built: every machine gets its own.
  'rm -f /etc/ssh/ssh_host_*',
  'ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key',
  'mkdir -p /root/.ssh /run/sshd && chmod 700 /root/.ssh',
  'printf "%s\\n" "$AUTHORIZED_KEY" > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys',
  'exec /usr/sbin/sshd -D -e -h /etc/ssh/ssh_host_ed25519_key -o UseDNS=no -o MaxStartups=100 -o PermitRootLogin=prohibit-password',
].join('\n')

export async function startStudentMachines(names: string[], authorizedKey: string): Promise<StudentNetwork> {
  const docker = await dockerClient()
  const image = await ensureHostImage({ distroOrImage: 'bookworm' })
  const labId = newLabId()
  const labels = ownerLabels(labId)
  trackLab(labId)
  const destroy = async () => {
    await reapDocker({ labIds: [labId], docker })
    untrackLab(labId)
  }
  try {
    const network = await docker.createNetwork({
      Name: `labproof-${labId}-students`,
      Driver: 'bridge',
      Internal: true,
      CheckDuplicate: true,
      Labels: { ...labels, 'labproof.network': 'students', [LABEL_IMAGE]: image },
    })
    const machines = await Promise.all(names.map((name) => startMachine(docker, { labId, labels, image, network: network.id, name, authorizedKey })))
    const subnet = ((await network.inspect()) as { IPAM: { Config: { Subnet: string }[] } }).IPAM.Config[0]!.Subnet
    return { machines: new Map(machines.map((m) => [m.name, m])), unusedAddress: unusedAddress(subnet, machines.map((m) => m.address)), destroy }
  } catch (e) {
    await destroy().catch(() => undefined)
    throw e
  }
}

async function startMachine(
  docker: Dockerode,
  o: { labId: string; labels: Record<string, string>; image: string; network: string; name: string; authorizedKey: string },
): Promise<StudentMachine> {
  const container = await docker.createContainer({
    name: `labproof-${o.labId}-${o.name}`,
    Image: o.image,
    Entrypoint: ['sh', '-c', BOOT],
    Hostname: o.name,
    Env: [`AUTHORIZED_KEY=${o.authorizedKey}`],
    Labels: { ...o.labels, 'labproof.node': o.name },
    HostConfig: { ...HOST_CONFIG, NetworkMode: o.network },
  })
  await container.start()
  const info = await container.inspect()
  const address = Object.values(info.NetworkSettings.Networks)[0]!.IPAddress
  await waitForSsh(address, o.name)
  const run = async (script: string) => {
    const r = await execInContainer(container, script, { timeoutMs: SCRIPT_LIMIT_MS })
    // Killed at the limit (timeout -s KILL): a half-built machine would be graded as a student's mistakes.
    if (r.exitCode === 137) throw new Error(`${o.name}: script did not finish in ${SCRIPT_LIMIT_MS / 1000} s and was killed`)
    return r
  }
  const hostKey = (await run('cut -d" " -f1,2 /etc/ssh/ssh_host_ed25519_key.pub')).stdout.trim()
  return { name: o.name, container: info.Name.replace(/^\//, ''), address, hostKey, run }
}

const SSH_READY_MS = 120_000
/** A lab's setup runs on ten machines at once: one alone took 20 s for 41 commands at load 36 on 2 cores. */
const SCRIPT_LIMIT_MS = 180_000

/** sshd has answered once it sends its banner. */
async function waitForSsh(address: string, name: string): Promise<void> {
  // sshd starts in well under a second; a machine under load (2 cores, parallel suites) takes longer.
  const deadline = Date.now() + SSH_READY_MS
  for (;;) {
    const banner = await new Promise<string>((resolve) => {
      const socket = connect({ host: address, port: 22 })
      // sshd sends its banner after forking a session process: seconds on a loaded machine.
      socket.setTimeout(15_000)
      socket.once('data', (d) => { resolve(String(d)); socket.destroy() })
      socket.once('error', () => resolve(''))
      socket.once('timeout', () => { resolve(''); socket.destroy() })
    })
    if (banner.startsWith('SSH-2.0-')) return
    if (Date.now() > deadline) throw new Error(`sshd on ${name} (${address}) did not answer within ${SSH_READY_MS / 1000} s`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

function unusedAddress(subnet: string, used: string[]): string {
  const [base] = subnet.split('/')
  const parts = base!.split('.').map(Number)
  // Docker hands out addresses from the bottom of the subnet; the top of its first /24 is free.
  for (let last = 250; last > 200; last--) {
    const candidate = `${parts[0]}.${parts[1]}.${parts[2]}.${last}`
    if (!used.includes(candidate)) return candidate
  }
  throw new Error(`no unused address found in ${subnet}`)
}
