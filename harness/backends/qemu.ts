// The qemu backend: Host 01 and Host 02 are VMs booting a chosen Debian cloud kernel, for kernel
// matrices and for features this machine's kernel lacks (ipip, gre, …). The gateway and the
// simulated internet are the netns backend's nodes, wired the same way; each VM's underlay NIC
// is a tap plugged into the gateway's `underlay` bridge, so the picture is the netns one.
//
// No packet can leave the machine: the management NIC is qemu user networking with
// restrict=on (only the ssh port forward from 127.0.0.1 reaches it), and the underlay tap,
// which qemu creates in the machine's namespace, is moved into the gateway's namespace before
// the guest boots, while it is still down and unaddressed.
//
// Lifetime: qemu runs under `setpriv --pdeathsig KILL`, like the netns nodes, so VMs die with
// labproof; destroy() kills them by PID and removes their overlays.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Host } from '../host.ts'
import { hostLookup, newLabId, type Backend, type Lab, type ProvisionOptions } from '../lab.ts'
import { runProcess } from '../local-process.ts'
import { GATEWAY, INTERNET, type HostSpec, type Topology } from '../topology.ts'
import { NetnsHost, gatewayScript, hostScript, internetScript, killNode, netnsPreflight, startNode, type NodeProcess } from './netns.ts'
import { connectSsh, SshHost } from './ssh-host.ts'
import { DEFAULT_VM_KERNEL, ensureVmImage, GUEST_READY_MARKER, isVmKernel, VM_KERNELS, type VmImage } from './vm-image.ts'
import { isAlive } from '../process-alive.ts'

/** Every VM's qemu command line carries `labproof-qemu:<lab>:<owner pid>:<host>` (in -name),
 *  and its temp dir is `labproof-qemu-<lab>-<owner pid>-…`: what `labproof clean` looks for. */
export const QEMU_MARKER = 'labproof-qemu'

const QEMU = 'qemu-system-x86_64'
const GUEST_MEMORY_MB = 512
const BOOT_TIMEOUT_MS = 180_000
/** Guest commands run in the lab's network namespace, not sshd's management one. */
const ENTER_LAB_NETNS = 'nsenter --net=/proc/1/ns/net --'

export type Accel = 'kvm' | 'tcg'
let accelProbe: Promise<{ accel: Accel; why: string }> | undefined

/** KVM when it really runs guest code here, TCG otherwise. /dev/kvm may exist and open yet
 *  fail to run a vCPU (nested virtualisation), so a 512-byte boot sector has to write to
 *  qemu's debug-exit port under KVM within a few seconds. */
export function detectAccel(): Promise<{ accel: Accel; why: string }> {
  accelProbe ??= (async () => {
    if (process.env.LABPROOF_QEMU_ACCEL === 'tcg') return { accel: 'tcg' as const, why: 'LABPROOF_QEMU_ACCEL=tcg' }
    if (!existsSync('/dev/kvm')) return { accel: 'tcg' as const, why: 'no /dev/kvm' }
    // Named like a lab's dir, so `labproof clean` removes it if labproof dies during the probe.
    const dir = await mkdtemp(join(tmpdir(), `${QEMU_MARKER}-kvmprobe-${process.pid}-`))
    try {
      const code = Buffer.alloc(512)
      Buffer.from([0xb0, 0x31, 0xe6, 0xf4, 0xf4, 0xeb, 0xfe]).copy(code) // mov al,0x31; out 0xf4,al; hlt
      code.writeUInt16LE(0xaa55, 510)
      await writeFile(join(dir, 'probe.img'), code)
      const r = await runProcess('setpriv', ['--pdeathsig', 'KILL', '--', QEMU, '-accel', 'kvm', '-cpu', 'max', '-M', 'pc', '-nodefaults',
        '-display', 'none', '-monitor', 'none', '-serial', 'none', '-device', 'isa-debug-exit,iobase=0xf4,iosize=1',
        '-drive', `file=${join(dir, 'probe.img')},format=raw,if=ide`], { timeoutMs: 8_000 })
      // isa-debug-exit makes qemu exit with (0x31 << 1) | 1 = 99 once the guest ran.
      if (r.exitCode === 99) return { accel: 'kvm' as const, why: 'a KVM guest ran' }
      return { accel: 'tcg' as const, why: `KVM did not run a guest (${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}: ${r.stderr.trim().split('\n').pop() ?? ''})` }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })()
  return accelProbe
}

interface Vm {
  spec: HostSpec
  child: ChildProcess
  consoleLog: string
  stderr: string[]
  tap: string
  sshPort: number
  host?: SshHost
  bootMs?: number
}

function macFor(kind: 'mgmt' | 'underlay', index: number): string {
  return `52:54:00:${kind === 'mgmt' ? 'ff' : '21'}:00:${(index + 1).toString(16).padStart(2, '0')}`
}

async function freePorts(n: number): Promise<number[]> {
  // Hold every socket until all are chosen, so two VMs never get the same port.
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => resolve(s))
  })))
  const ports = servers.map((s) => (s.address() as { port: number }).port)
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  return ports
}

async function consoleTail(vm: Vm, lines = 30): Promise<string> {
  const text = (await readFile(vm.consoleLog, 'utf8').catch(() => '')).trimEnd().split('\n')
  // What the guest's init said and the panic line first: a panic's register dump says little.
  const said = text.filter((l) => /labproof-init:|Kernel panic|not syncing/.test(l)).slice(-10)
  const tail = [...said, ...(said.length ? ['…'] : []), ...text.slice(-lines)].join('\n')
  const err = vm.stderr.join('').trim()
  return `serial console (${vm.consoleLog}), last lines:\n${tail || '(empty)'}${err ? `\nqemu stderr:\n${err}` : ''}`
}

function exited(vm: Vm): boolean {
  return vm.child.exitCode !== null || vm.child.signalCode !== null
}

async function vmError(vm: Vm, what: string): Promise<Error> {
  const state = exited(vm) ? ` (qemu exited ${vm.child.exitCode ?? vm.child.signalCode})` : ''
  return new Error(`qemu backend: ${vm.spec.name}: ${what}${state}\n${await consoleTail(vm)}`)
}

async function waitFor(vm: Vm, what: string, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await ready()) return
    if (exited(vm)) throw await vmError(vm, `qemu stopped while waiting for ${what}`)
    if (Date.now() > deadline) throw await vmError(vm, `no ${what} within ${Math.round(timeoutMs / 1000)} s`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

function startVm(image: VmImage, accel: Accel, labId: string, dir: string, topology: Topology, spec: HostSpec, index: number, sshPort: number): Vm {
  const tap = `lq${labId.slice(-8)}h${index}`
  const consoleLog = join(dir, `${spec.name}.console.log`)
  const cmdline = [
    'console=ttyS0', 'root=/dev/nvme0n1', 'rw', 'rootfstype=ext4', 'init=/sbin/labproof-init', 'panic=-1', 'quiet',
    'net.ifnames=0', 'random.trust_cpu=on', 'no_timer_check',
    `labproof.hostname=${spec.hostname}`, `labproof.underlay_if=${topology.underlay.interface}`,
    `labproof.underlay_mac=${macFor('underlay', index)}`, `labproof.mgmt_mac=${macFor('mgmt', index)}`,
  ].join(' ')
  const args = [
    '--pdeathsig', 'KILL', '--', QEMU,
    '-name', `${QEMU_MARKER}:${labId}:${process.pid}:${spec.name}`,
    '-accel', accel, '-cpu', 'max', '-smp', '1', '-m', String(GUEST_MEMORY_MB),
    '-nographic', '-nodefaults', '-no-reboot', '-monitor', 'none', '-serial', `file:${consoleLog}`,
    '-kernel', image.vmlinuz, '-append', cmdline,
    '-drive', `file=${join(dir, `${spec.name}.qcow2`)},format=qcow2,if=none,id=root,cache=unsafe`,
    '-device', 'nvme,drive=root,serial=labproof-root',
    '-netdev', `user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:${sshPort}-:22`,
    '-device', `virtio-net-pci,netdev=mgmt,mac=${macFor('mgmt', index)},romfile=`,
    '-netdev', `tap,id=underlay,ifname=${tap},script=no,downscript=no`,
    '-device', `virtio-net-pci,netdev=underlay,mac=${macFor('underlay', index)},romfile=`,
  ]
  const child = spawn('setpriv', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  const vm: Vm = { spec, child, consoleLog, stderr: [], tap, sshPort }
  child.stderr!.on('data', (d) => vm.stderr.push(String(d)))
  child.on('error', (e) => vm.stderr.push(`cannot start ${QEMU}: ${e.message}\n`))
  return vm
}

/** Move the VM's tap out of the machine's namespace into the gateway's, onto its bridge. */
async function plugIntoGateway(vm: Vm, gatewayPid: number): Promise<void> {
  await waitFor(vm, `tap ${vm.tap}`, 15_000, async () => existsSync(`/sys/class/net/${vm.tap}`))
  const moved = await runProcess('ip', ['link', 'set', vm.tap, 'netns', String(gatewayPid)], { timeoutMs: 10_000 })
  if (moved.exitCode !== 0) throw await vmError(vm, `could not move tap ${vm.tap} into the gateway: ${moved.stderr}`)
  const port = `port-${vm.spec.name}`
  const wired = await runProcess('nsenter', ['-t', String(gatewayPid), '-n', '--', 'sh', '-c',
    `ip link set ${vm.tap} name ${port} && ip link set ${port} master underlay && ip link set ${port} up`], { timeoutMs: 10_000 })
  if (wired.exitCode !== 0) throw await vmError(vm, `could not attach ${port} to the gateway's underlay bridge: ${wired.stderr}`)
}

async function connectVm(vm: Vm, image: VmImage, started: number): Promise<void> {
  await waitFor(vm, 'guest ready marker on the serial console', BOOT_TIMEOUT_MS, async () =>
    (await readFile(vm.consoleLog, 'utf8').catch(() => '')).includes(GUEST_READY_MARKER))
  const privateKey = await readFile(image.privateKeyPath)
  let lastError: Error | undefined
  // sshd listens already; a retry only covers slirp accepting before the guest answers.
  for (let attempt = 0; attempt < 10 && !exited(vm); attempt++) {
    try {
      const connection = await connectSsh({
        host: '127.0.0.1', port: vm.sshPort, username: 'root', privateKey,
        hostKeySha256: image.hostKeySha256, readyTimeoutMs: 20_000, commandPrefix: ENTER_LAB_NETNS, maxChannels: 32,
      })
      vm.host = new SshHost(vm.spec.name, connection)
      vm.bootMs = Math.round(performance.now() - started)
      return
    } catch (e) {
      lastError = e as Error
      await new Promise((r) => setTimeout(r, 500))
    }
  }
  throw await vmError(vm, `ssh did not come up: ${lastError?.message ?? 'qemu exited'}`)
}

function killVm(vm: Vm): Promise<void> {
  vm.host?.close()
  return new Promise((resolve) => {
    if (exited(vm)) return resolve()
    vm.child.once('exit', () => resolve())
    vm.child.kill('SIGKILL')
  })
}

/** VMs and temp dirs whose labproof process is gone (they normally die with it: pdeathsig);
 *  killed by PID and removed. Returns what it removed, for `labproof clean`. */
export async function reapQemuLeftovers(): Promise<string[]> {
  const removed: string[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')
    const marker = cmdline.split('\0').find((a) => a.startsWith(`${QEMU_MARKER}:`))
    if (!marker) continue
    const [, labId, owner, host] = marker.split(':')
    if (isAlive(Number(owner))) continue
    try {
      process.kill(Number(entry), 'SIGKILL')
      removed.push(`qemu VM ${host} of lab ${labId} (pid ${entry})`)
    } catch {
      // exited meanwhile
    }
  }
  for (const name of await readdir(tmpdir())) {
    const m = new RegExp(`^${QEMU_MARKER}-(\\w+)-(\\d+)-`).exec(name)
    if (!m || isAlive(Number(m[2]))) continue
    await rm(join(tmpdir(), name), { recursive: true, force: true })
    removed.push(`qemu overlays of lab ${m[1]} (${join(tmpdir(), name)})`)
  }
  return removed
}

/** Root (taps, the gateway namespace), qemu, /dev/net/tun, and a kernel it can boot. */
async function qemuPreflight(opts: ProvisionOptions = {}): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the qemu backend needs root (taps, the gateway namespace): run labproof as root')
  if (opts.kernel && !isVmKernel(opts.kernel)) {
    throw new Error(`the qemu backend has no kernel "${opts.kernel}"; choose --kernel from ${Object.keys(VM_KERNELS).join(', ')}`)
  }
  if (opts.distro && !/bookworm/.test(opts.distro)) {
    throw new Error(`the qemu backend boots a Debian bookworm rootfs; distro "${opts.distro}" is not available (choose the kernel with --kernel)`)
  }
  const which = await runProcess('sh', ['-c', `command -v ${QEMU} qemu-img`], { timeoutMs: 5_000 })
  if (which.exitCode !== 0) throw new Error(`the qemu backend needs ${QEMU} and qemu-img: apt-get install qemu-system-x86 qemu-utils`)
  if (!existsSync('/dev/net/tun')) throw new Error('the qemu backend needs /dev/net/tun for the VMs\' underlay taps: modprobe tun')
  await netnsPreflight('qemu')
}

export const qemuBackend: Backend = {
  name: 'qemu',
  preflight: qemuPreflight,
  async provision(topology: Topology, opts: ProvisionOptions = {}): Promise<Lab> {
    await qemuPreflight(opts)
    const started = performance.now()
    const kernel = opts.kernel ?? DEFAULT_VM_KERNEL
    const imageStarted = performance.now()
    const image = await ensureVmImage(kernel)
    const imageMs = Math.round(performance.now() - imageStarted)
    const { accel, why } = await detectAccel()
    const id = newLabId()
    const dir = await mkdtemp(join(tmpdir(), `${QEMU_MARKER}-${id}-${process.pid}-`))
    const nodes = new Map<string, NodeProcess>()
    const vms: Vm[] = []
    const destroy = async () => {
      await Promise.all(vms.map(killVm))
      await Promise.all([...nodes.values()].map(killNode))
      await rm(dir, { recursive: true, force: true })
    }
    try {
      for (const n of [GATEWAY, INTERNET]) nodes.set(n, await startNode(id, n))
      const gatewayPid = nodes.get(GATEWAY)!.innerPid
      const pids = new Map([[GATEWAY, gatewayPid], [INTERNET, nodes.get(INTERNET)!.innerPid]])
      const wiring = await runProcess('nsenter', ['-t', String(gatewayPid), '-n', '--', 'sh', '-c', gatewayScript(topology, pids, [])], { timeoutMs: 10_000 })
      if (wiring.exitCode !== 0) throw new Error(`qemu backend: could not wire the gateway: ${wiring.stderr}`)
      const internet = new NetnsHost(INTERNET, nodes.get(INTERNET)!)
      await internet.succeed(internetScript(topology))

      // Overlays: runs never write to the cached base image.
      for (const h of topology.hosts) {
        const made = await runProcess('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', image.rootfs, join(dir, `${h.name}.qcow2`)], { timeoutMs: 30_000 })
        if (made.exitCode !== 0) throw new Error(`qemu backend: qemu-img create failed: ${made.stderr}`)
      }
      const ports = await freePorts(topology.hosts.length)
      const bootStarted = performance.now()
      topology.hosts.forEach((h, i) => vms.push(startVm(image, accel, id, dir, topology, h, i, ports[i]!)))
      await Promise.all(vms.map((vm) => plugIntoGateway(vm, gatewayPid)))
      await Promise.all(vms.map((vm) => connectVm(vm, image, bootStarted)))
      await Promise.all(vms.map((vm) => vm.host!.succeed(hostScript(topology, vm.spec.underlayAddress))))

      const hosts = new Map<string, Host>([
        ...vms.map((vm) => [vm.spec.name, vm.host!] as const),
        [GATEWAY, new NetnsHost(GATEWAY, nodes.get(GATEWAY)!)],
        [INTERNET, internet],
      ])
      return {
        backend: 'qemu',
        id,
        topology,
        hosts,
        facts: {
          backend: 'qemu',
          kernel: image.kernelRelease,
          kernelPackage: image.kernelPackage,
          rootfs: 'Debian bookworm (debootstrap minbase)',
          accel,
          accelReason: why,
          bootMs: vms.map((vm) => `${vm.spec.name} ${vm.bootMs}`).join(', '),
          imageMs: String(imageMs),
          image: image.dir,
          provisionMs: String(Math.round(performance.now() - started)),
        },
        host: hostLookup(hosts, 'qemu'),
        destroy,
      }
    } catch (e) {
      await destroy()
      throw e
    }
  },
}
