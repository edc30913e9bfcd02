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
// Never a silent wait: every VM has a QMP socket, and while labproof waits for a guest it asks
// qemu how the guest is (`query-status`) and reads qemu's stderr; a guest KVM stopped ("KVM
// internal error", status paused / internal-error) ends the wait at once and the pair boots
// again under TCG (vm-accel.ts decides, and remembers for the run). Progress every few seconds.
//
// Boot once, restore many: the first lab on a kernel boots its pair, probes what the guests can do
// (capabilities.ts) and saves it (vm-saved-states.ts); every later lab on that kernel starts from
// the save with overlays of its own, in a second or two, and the probe's answer. The saves are
// kept across runs, so a later run's first lab restores too (`labproof clean` empties them).
//
// Lifetime: qemu runs under `setpriv --pdeathsig KILL`, like the netns nodes, so VMs die with
// labproof; destroy() kills them by PID and removes their overlays.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, readlinkSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { shellQuote, type Capabilities, type Host } from '../../host.ts'
import { hostLookup, newLabId, type Backend, type Lab, type ProvisionOptions } from '../../lab.ts'
import { runProcess } from '../../local-process.ts'
import { GATEWAY, INTERNET, type HostSpec, type Topology } from '../../topology.ts'
import { NetnsHost, killNode, namespaceNodePreflight, startNode, type NodeProcess } from '../shared/namespace-node.ts'
import { gatewayScript, hostScript, internetScript } from '../shared/topology.ts'
import { QmpClient } from './qmp.ts'
import { connectSsh, SshHost, type SshConnection } from '../shared/ssh-host.ts'
import { CAPABILITIES_MODULE, probeCapabilities } from '../../capabilities.ts'
import { decideAccel, kvmFailureReason, recordKvmFailure, recordKvmSuccess, type Accel, type AccelDecision, type VmKernelRef } from '../shared/vm-accel.ts'
import { DEFAULT_VM_KERNEL, ensureVmImage, GUEST_READY_MARKER, guestNameCommand, isVmKernel, VM_KERNELS, type VmImage } from '../shared/vm-image.ts'
import { SavedStates, type SaveClaim, type SavedPair } from './vm-saved-states.ts'
import { PACKAGE_VERSION } from '../../package-info.ts'
import { ownerAlive, ownerTag, parseOwnerTag, OWNER_TAG_PATTERN } from '../../ownership/owner.ts'
import { markedProcesses } from '../../ownership/marked-processes.ts'

export type { Accel } from '../shared/vm-accel.ts'

/** Every VM's qemu command line carries `labproof-qemu:<lab>:<owner>:<host>` (in -name),
 *  and its temp dir is `labproof-qemu-<lab>-<owner>-…`, the owner being labproof's PID and
 *  start time (ownership/owner.ts, so a reused PID is not taken for it): what `labproof clean`
 *  looks for. */
export const QEMU_MARKER = 'labproof-qemu'

const QEMU = 'qemu-system-x86_64'
const GUEST_MEMORY_MB = 512
/** Booting under TCG on a loaded machine; the wait ends sooner when the guest or qemu stops. */
const BOOT_TIMEOUT_MS = 300_000
/** A cloud kernel reaches its ready marker in about 3 s under KVM: a first boot under KVM that
 *  has not by then is taken as KVM failing this kernel. */
const UNPROVEN_KVM_BOOT_MS = 30_000
const RESTORE_TIMEOUT_MS = 90_000
const PROGRESS_EVERY_MS = 5_000
/** Guest commands run in the lab's network namespace, not sshd's management one. */
const ENTER_LAB_NETNS = 'nsenter --net=/proc/1/ns/net --'

function progress(line: string): void {
  process.stderr.write(`[labproof qemu] ${line}\n`)
}

/** What tests may change: how the accelerator is decided, which -accel a decision runs with,
 *  and what happens once a VM's QMP answers (to do to a guest what a broken KVM does). */
export interface QemuBackendOptions {
  decideAccel?: (kernel: VmKernelRef) => Promise<AccelDecision>
  qemuAccel?: (accel: Accel) => string
  onVmStarted?: (vm: { name: string; accel: Accel; qmp: QmpClient }) => Promise<void> | void
  /** The saves it restores from and makes (default: the process's, shared by every backend). */
  savedStates?: SavedStates
}

interface Vm {
  spec: HostSpec
  child: ChildProcess
  consoleLog: string
  stderr: string[]
  tap: string
  sshPort: number
  qmpPath: string
  qmp?: QmpClient
  accel: Accel
  /** The disk qemu writes now. */
  disk: string
  host?: SshHost
  bootMs?: number
}

/** A guest that stopped (qemu paused it, exited, or never got far) while labproof waited. */
class GuestStopped extends Error {
  constructor(readonly failure: string, message: string) {
    super(message)
  }
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
  const err = vm.stderr.join('').trim().split('\n').slice(-20).join('\n')
  return `serial console (${vm.consoleLog}), last lines:\n${tail || '(empty)'}\nqemu stderr, last lines:\n${err || '(empty)'}`
}

function exited(vm: Vm): boolean {
  return vm.child.exitCode !== null || vm.child.signalCode !== null
}

async function vmError(vm: Vm, what: string): Promise<Error> {
  const state = exited(vm) ? ` (qemu exited ${vm.child.exitCode ?? vm.child.signalCode})` : ''
  return new Error(`qemu backend: ${vm.spec.name}: ${what}${state}\n${await consoleTail(vm)}`)
}

/** Why the guest is not running, or undefined while it runs (or is being restored). */
async function whyStopped(vm: Vm): Promise<string | undefined> {
  const stderr = vm.stderr.join('')
  if (exited(vm)) return kvmFailureReason(stderr) ?? `qemu exited (${vm.child.exitCode ?? vm.child.signalCode})`
  const said = kvmFailureReason(stderr)
  if (said) return said
  const status = await vm.qmp?.status().catch(() => undefined)
  if (!status || status.running || ['inmigrate', 'prelaunch', 'finish-migrate'].includes(status.status)) return undefined
  return kvmFailureReason(stderr, status.status)
}

/** Wait until `ready()`, asking qemu how the guest is meanwhile and saying what is awaited
 *  every few seconds. A stopped guest throws GuestStopped at once, with qemu's words. */
async function waitForGuest(vm: Vm, what: string, timeoutMs: number, ready: () => Promise<boolean>, opts: { unprovenKvm?: boolean } = {}): Promise<void> {
  const started = Date.now()
  const deadline = started + (opts.unprovenKvm ? Math.min(timeoutMs, UNPROVEN_KVM_BOOT_MS) : timeoutMs)
  let said = started
  for (;;) {
    if (await ready()) return
    const stopped = await whyStopped(vm)
    if (stopped) throw new GuestStopped(stopped, (await vmError(vm, `the guest stopped while labproof waited for ${what} under ${vm.accel.toUpperCase()}: ${stopped}`)).message)
    const now = Date.now()
    if (now > deadline) {
      const waited = `waited ${Math.round((now - started) / 1000)} s for ${what}`
      const what_ = `${waited} under ${vm.accel.toUpperCase()}, in vain`
      if (opts.unprovenKvm) throw new GuestStopped(`${waited}, in vain`, (await vmError(vm, what_)).message)
      throw await vmError(vm, what_)
    }
    if (now - said >= PROGRESS_EVERY_MS) {
      said = now
      progress(`${vm.spec.name}: waiting for ${what} (${vm.accel.toUpperCase()}, ${Math.round((now - started) / 1000)} s so far)`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

interface Launch {
  image: VmImage
  accel: Accel
  qemuAccel: string
  labId: string
  dir: string
  topology: Topology
  spec: HostSpec
  index: number
  sshPort: number
  disk: string
  /** Restore from this migration stream instead of booting. */
  incoming?: string
}

function startVm(l: Launch): Vm {
  const tap = `lq${l.labId.slice(-8)}h${l.index}`
  const consoleLog = join(l.dir, `${l.spec.name}.console.log`)
  const qmpPath = join(l.dir, `${l.spec.name}.qmp`)
  // A restored guest keeps the command line it booted with; the save's key covers what it says.
  // The machine's IDE controller (PIIX3, on every `pc` machine) serves no disk: its drivers
  // (libata, scsi) are not loaded at boot, where loading them and probing its ports took 2 s.
  const cmdline = [
    'console=ttyS0', 'root=/dev/vda', 'rw', 'panic=-1', 'quiet',
    'net.ifnames=0', 'random.trust_cpu=on', 'no_timer_check', 'modprobe.blacklist=ata_piix,ata_generic',
    `labproof.hostname=${l.spec.hostname}`, `labproof.underlay_if=${l.topology.underlay.interface}`,
    `labproof.underlay_mac=${macFor('underlay', l.index)}`, `labproof.mgmt_mac=${macFor('mgmt', l.index)}`,
  ].join(' ')
  const args = [
    '--pdeathsig', 'KILL', '--', QEMU,
    '-name', `${QEMU_MARKER}:${l.labId}:${ownerTag()}:${l.spec.name}`,
    '-accel', l.qemuAccel, '-cpu', 'max', '-smp', '1', '-m', String(GUEST_MEMORY_MB),
    '-nographic', '-nodefaults', '-no-reboot', '-monitor', 'none', '-serial', `file:${consoleLog}`,
    '-qmp', `unix:${qmpPath},server=on,wait=off`,
    '-kernel', l.image.vmlinuz, '-initrd', l.image.initrd, '-append', cmdline,
    // virtio-blk, not NVMe: qemu cannot save a VM with an NVMe disk.
    '-drive', `file=${l.disk},format=qcow2,if=none,id=root,cache=unsafe`,
    '-device', 'virtio-blk-pci,drive=root',
    '-netdev', `user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:${l.sshPort}-:22`,
    '-device', `virtio-net-pci,netdev=mgmt,mac=${macFor('mgmt', l.index)},romfile=`,
    '-netdev', `tap,id=underlay,ifname=${tap},script=no,downscript=no`,
    '-device', `virtio-net-pci,netdev=underlay,mac=${macFor('underlay', l.index)},romfile=`,
    ...(l.incoming ? ['-incoming', `exec:cat ${shellQuote(l.incoming)}`] : []),
  ]
  const child = spawn('setpriv', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  const vm: Vm = { spec: l.spec, child, consoleLog, stderr: [], tap, sshPort: l.sshPort, qmpPath, accel: l.accel, disk: l.disk }
  child.stderr!.on('data', (d) => vm.stderr.push(String(d)))
  child.on('error', (e) => vm.stderr.push(`cannot start ${QEMU}: ${e.message}\n`))
  return vm
}

async function connectQmp(vm: Vm): Promise<void> {
  try {
    vm.qmp = await QmpClient.connect(vm.qmpPath, { timeoutMs: 20_000, gone: () => exited(vm) })
  } catch (e) {
    throw await vmError(vm, (e as Error).message)
  }
}

function hasNetns(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`).startsWith('net:')
  } catch {
    return false
  }
}

/** Move the VM's tap out of the machine's namespace into the gateway's, onto its bridge. */
async function plugIntoGateway(vm: Vm, gatewayPid: number): Promise<void> {
  await waitForGuest(vm, `tap ${vm.tap}`, 15_000, async () => existsSync(`/sys/class/net/${vm.tap}`))
  const moved = await runProcess('ip', ['link', 'set', vm.tap, 'netns', String(gatewayPid)], { timeoutMs: 10_000 })
  if (moved.exitCode !== 0) {
    // A gateway killed but not yet reaped still has its PID, and no network namespace.
    const gateway = hasNetns(gatewayPid) ? `the gateway, pid ${gatewayPid}, is up` : `the gateway, pid ${gatewayPid}, is gone: was it killed?`
    throw await vmError(vm, `could not move tap ${vm.tap} into the gateway: ${moved.stderr.trim()} (${gateway})`)
  }
  const port = `port-${vm.spec.name}`
  const wired = await runProcess('nsenter', ['-t', String(gatewayPid), '-n', '--', 'sh', '-c',
    `ip link set ${vm.tap} name ${port} && ip link set ${port} master underlay && ip link set ${port} up`], { timeoutMs: 10_000 })
  if (wired.exitCode !== 0) throw await vmError(vm, `could not attach ${port} to the gateway's underlay bridge: ${wired.stderr}`)
}

async function waitForReadyMarker(vm: Vm, unprovenKvm: boolean): Promise<void> {
  await waitForGuest(vm, 'the guest\'s ready marker on the serial console', BOOT_TIMEOUT_MS, async () =>
    (await readFile(vm.consoleLog, 'utf8').catch(() => '')).includes(GUEST_READY_MARKER), { unprovenKvm })
}

async function connectGuest(vm: Vm, image: VmImage): Promise<SshConnection> {
  const privateKey = await readFile(image.privateKeyPath)
  let lastError: Error | undefined
  // sshd listens already; a retry only covers slirp accepting before the guest answers.
  for (let attempt = 0; attempt < 10 && !exited(vm); attempt++) {
    try {
      return await connectSsh({
        host: '127.0.0.1', port: vm.sshPort, username: 'root', privateKey,
        hostKeySha256: image.hostKeySha256, readyTimeoutMs: 20_000, commandPrefix: ENTER_LAB_NETNS, maxChannels: 32,
      })
    } catch (e) {
      lastError = e as Error
      const stopped = await whyStopped(vm)
      if (stopped) throw await vmError(vm, `the guest stopped before ssh answered: ${stopped}`)
      await new Promise((r) => setTimeout(r, 500))
    }
  }
  throw await vmError(vm, `ssh did not come up: ${lastError?.message ?? 'qemu exited'}`)
}

/** `capabilities`: the probe of the save it was restored from. */
async function connectVm(vm: Vm, image: VmImage, started: number, capabilities?: Capabilities): Promise<void> {
  vm.host = new SshHost(vm.spec.name, await connectGuest(vm, image), { session: true, capabilities })
  vm.bootMs = Math.round(performance.now() - started)
}

/** Probe a booted guest before it is saved, so that no restored lab probes it again (and each
 *  starts with the probe's modules loaded), over a connection of its own that is closed, its
 *  sshd session ended, before the save: a restored guest holds no connection. A probe that did
 *  not finish is not kept. */
async function probeForSave(vm: Vm, image: VmImage): Promise<Capabilities | undefined> {
  const connection = await connectGuest(vm, image)
  try {
    const probed = await probeCapabilities(new SshHost(vm.spec.name, connection))
    const finished = probed.kernelRelease !== 'unknown' && !Object.values(probed.features).some((f) => typeof f === 'string' && f.startsWith('not probed'))
    return finished ? probed : undefined
  } finally {
    await connection.closeAndWait()
  }
}

function killVm(vm: Vm): Promise<void> {
  vm.host?.close()
  vm.qmp?.close()
  return new Promise((resolve) => {
    if (exited(vm)) return resolve()
    vm.child.once('exit', () => resolve())
    vm.child.kill('SIGKILL')
  })
}

async function makeOverlay(file: string, backing: string, backingFormat: 'raw' | 'qcow2'): Promise<void> {
  const made = await runProcess('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', backingFormat, '-b', backing, file], { timeoutMs: 30_000 })
  if (made.exitCode !== 0) throw new Error(`qemu backend: qemu-img create ${file} failed: ${made.stderr.trim()}`)
}

/** Save a booted VM with no connection open to it: stop it, write its memory and device state
 *  with qemu's migration, and end it; its disk, no longer written, is the save's. */
async function saveVm(vm: Vm, claim: SaveClaim): Promise<{ disk: string; state: string }> {
  const qmp = vm.qmp!
  const state = join(claim.dir, `${vm.spec.name}.state`)
  await qmp.execute('stop')
  // A stopped VM need not be paced: send it as fast as the disk takes it.
  await qmp.execute('migrate-set-parameters', { 'max-bandwidth': 16 * 1024 ** 3 })
  await qmp.execute('migrate', { uri: `exec:cat > ${shellQuote(state)}` })
  const deadline = Date.now() + 120_000
  for (;;) {
    const m = await qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate')
    if (m.status === 'completed') break
    if (m.status === 'failed' || m.status === 'cancelled') throw new Error(`qemu backend: saving ${vm.spec.name} failed: ${m['error-desc'] ?? m.status}`)
    if (Date.now() > deadline) throw new Error(`qemu backend: saving ${vm.spec.name} did not finish within 120 s (migration ${m.status})`)
    await new Promise((r) => setTimeout(r, 50))
  }
  await killVm(vm)
  return { disk: vm.disk, state }
}

/** A restored VM loads its state, then stays paused as it was saved: go on once loaded. */
async function resumeRestored(vm: Vm): Promise<void> {
  const started = Date.now()
  let said = started
  for (;;) {
    if (exited(vm)) throw await vmError(vm, 'qemu stopped while loading the saved state')
    const said_ = kvmFailureReason(vm.stderr.join(''))
    if (said_) throw new GuestStopped(said_, (await vmError(vm, `the restored guest stopped: ${said_}`)).message)
    const { status } = await vm.qmp!.status()
    if (status === 'running') return
    if (status === 'paused' || status === 'postmigrate') await vm.qmp!.execute('cont')
    else if (status !== 'inmigrate') {
      const why = kvmFailureReason('', status)!
      throw new GuestStopped(why, (await vmError(vm, `the restored guest stopped: ${why}`)).message)
    }
    const now = Date.now()
    if (now - started > RESTORE_TIMEOUT_MS) throw await vmError(vm, `the saved state did not load within ${RESTORE_TIMEOUT_MS / 1000} s`)
    if (now - said >= PROGRESS_EVERY_MS) {
      said = now
      progress(`${vm.spec.name}: loading the saved state (${vm.accel.toUpperCase()}, ${Math.round((now - started) / 1000)} s so far)`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** VMs and temp dirs whose labproof process is gone (they normally die with it: pdeathsig);
 *  killed by PID and removed. Returns what it removed, for `labproof clean`. */
export async function reapQemuLeftovers(): Promise<string[]> {
  const removed: string[] = []
  for (const { pid, fields: [labId, owner, host] } of markedProcesses(QEMU_MARKER)) {
    const ownedBy = parseOwnerTag(owner ?? '')
    if (!ownedBy || ownerAlive(ownedBy)) continue
    try {
      process.kill(pid, 'SIGKILL')
      removed.push(`qemu VM ${host} of lab ${labId} (pid ${pid})`)
    } catch {
      // exited meanwhile
    }
  }
  for (const name of await readdir(tmpdir())) {
    const m = new RegExp(`^${QEMU_MARKER}-(\\w+)-(${OWNER_TAG_PATTERN})-`).exec(name)
    if (!m || ownerAlive(parseOwnerTag(m[2])!)) continue
    await rm(join(tmpdir(), name), { recursive: true, force: true })
    const what = m[1] === 'saved' ? 'saved VM states of a run' : m[1] === 'kvmprobe' ? 'a KVM probe' : `qemu overlays of lab ${m[1]}`
    removed.push(`${what} (${join(tmpdir(), name)})`)
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
  await namespaceNodePreflight('qemu')
}

/** What a saved pair depends on: the image (its directory names its recipe; its rootfs file as
 *  it is now), how qemu ran it (-accel), and how many hosts; and, as saves are kept across runs,
 *  what made it: this qemu binary (a migration stream is its version's) and this labproof (its
 *  version, and the code that gave the guests their command line and probed them). The names
 *  the guests were told at boot are not in it: a restored lab renames what differs
 *  (renameAfterRestore), so a scenario with its own underlay interface (k8s: ens160) or host
 *  names restores too instead of booting a pair of its own. */
async function savedKey(image: VmImage, qemuAccel: string, topology: Topology): Promise<string> {
  const rootfs = await stat(image.rootfs)
  return JSON.stringify([image.dir, image.kernelRelease, rootfs.size, rootfs.mtimeMs, qemuAccel, topology.hosts.length, await qemuIdentity(), codeIdentity()])
}

/** The qemu binary on PATH, by where it is, its size and its time. */
let qemuIdentityMemo: Promise<string> | undefined
function qemuIdentity(): Promise<string> {
  return (qemuIdentityMemo ??= (async () => {
    for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
      const s = await stat(join(dir, QEMU)).catch(() => undefined)
      if (s?.isFile()) return `${join(dir, QEMU)} ${s.size} ${s.mtimeMs}`
    }
    return 'none'
  })())
}

/** labproof's version and a hash of the files of this module and of the capability probe (as
 *  run, or as built: then the bundle's chunks they are in). */
let codeIdentityMemo: string | undefined
function codeIdentity(): string {
  if (codeIdentityMemo) return codeIdentityMemo
  const hash = createHash('sha256').update(PACKAGE_VERSION)
  for (const url of new Set([import.meta.url, CAPABILITIES_MODULE])) {
    hash.update(readFileSync(fileURLToPath(url)))
  }
  return (codeIdentityMemo = hash.digest('hex').slice(0, 16))
}

/** The commands that give a guest restored from `pair` this lab's underlay interface and host
 *  name where they differ from those it booted with, as its init would have (empty: none). */
function renameAfterRestore(pair: SavedPair, index: number, topology: Topology, spec: HostSpec): string {
  const from = pair.booted.underlayInterface
  const to = topology.underlay.interface
  return [
    ...(from !== to ? [`ip link set ${shellQuote(from)} name ${shellQuote(to)}`] : []),
    ...(pair.booted.hostnames[index] !== spec.hostname ? [guestNameCommand(shellQuote(spec.hostname))] : []),
  ].map((c) => `${c} && `).join('')
}

/** The saved pairs of this process's qemu backends. */
const processSaves = new SavedStates(QEMU_MARKER)

export function createQemuBackend(options: QemuBackendOptions = {}): Backend {
  const decide = options.decideAccel ?? decideAccel
  const qemuAccel = options.qemuAccel ?? ((a: Accel) => a)
  const saved = options.savedStates ?? processSaves

  return {
    name: 'qemu',
    preflight: qemuPreflight,
    async provision(topology: Topology, opts: ProvisionOptions = {}): Promise<Lab> {
      await qemuPreflight(opts)
      const started = performance.now()
      const kernel = opts.kernel ?? DEFAULT_VM_KERNEL
      const imageStarted = performance.now()
      const image = await ensureVmImage(kernel)
      const imageMs = Math.round(performance.now() - imageStarted)
      const kernelRef: VmKernelRef = { series: image.kernel, release: image.kernelRelease }
      const id = newLabId()
      const dir = await mkdtemp(join(tmpdir(), `${QEMU_MARKER}-${id}-${ownerTag()}-`))
      const nodes = new Map<string, NodeProcess>()
      let vms: Vm[] = []
      let destroyed: Promise<void> | undefined
      const destroy = () => (destroyed ??= (async () => {
        await Promise.all(vms.map(killVm))
        await Promise.all([...nodes.values()].map(killNode))
        await rm(dir, { recursive: true, force: true })
      })())
      try {
        for (const n of [GATEWAY, INTERNET]) nodes.set(n, await startNode(id, n))
        const gatewayPid = nodes.get(GATEWAY)!.innerPid
        const pids = new Map([[GATEWAY, gatewayPid], [INTERNET, nodes.get(INTERNET)!.innerPid]])
        const wiring = await runProcess('nsenter', ['-t', String(gatewayPid), '-n', '--', 'sh', '-c', gatewayScript(topology, pids, [])], { timeoutMs: 10_000 })
        if (wiring.exitCode !== 0) throw new Error(`qemu backend: could not wire the gateway: ${wiring.stderr}`)
        const internet = new NetnsHost(INTERNET, nodes.get(INTERNET)!)
        await internet.succeed(internetScript(topology))

        const launch = async (decision: AccelDecision, disks: string[], incoming?: SavedPair) => {
          const ports = await freePorts(topology.hosts.length)
          vms = topology.hosts.map((spec, index) => startVm({
            image, accel: decision.accel, qemuAccel: qemuAccel(decision.accel), labId: id, dir, topology, spec, index,
            sshPort: ports[index]!, disk: disks[index]!, incoming: incoming?.vms[index]!.state,
          }))
          await Promise.all(vms.map(connectQmp))
          await Promise.all(vms.map((vm) => plugIntoGateway(vm, gatewayPid)))
        }

        // Decided once per lab; a boot KVM stops turns it to TCG for this lab and the run.
        let decision = await decide(kernelRef)
        let startedFrom = ''
        let restoredFrom: SavedPair | undefined
        let bootedIn = ''
        // Off once a restore failed here: this lab then boots and runs its own pair.
        let saving = true
        const bootStarted = performance.now()
        for (let attempt = 0; !startedFrom; attempt++) {
          if (attempt > 4) throw new Error('qemu backend: could neither restore nor boot the VMs (see the messages above)')
          progress(`lab ${id}: kernel ${image.kernelRelease} under ${decision.accel.toUpperCase()} (${decision.why})`)
          const key = await savedKey(image, qemuAccel(decision.accel), topology)
          const pair = saving ? await saved.get(key) : undefined
          if (pair) {
            const t0 = performance.now()
            if (pair.earlier) progress(`lab ${id}: restoring the pair saved by an earlier run (${pair.earlier}; labproof clean removes it)`)
            try {
              const disks = topology.hosts.map((h) => join(dir, `${h.name}.qcow2`))
              await Promise.all(disks.map((d, i) => makeOverlay(d, pair.vms[i]!.disk, 'qcow2')))
              await launch(decision, disks, pair)
              await Promise.all(vms.map(resumeRestored))
              restoredFrom = pair
              const earlier = pair.earlier ? `; saved by an earlier run ${new Date(pair.savedAt).toISOString().slice(0, 16).replace('T', ' ')} UTC` : ''
              startedFrom = `${bootedIn ? `${bootedIn}, saved, and ` : ''}restored from the pair lab ${pair.fromLab} booted (${((performance.now() - t0) / 1000).toFixed(1)} s${earlier})`
            } catch (e) {
              progress(`lab ${id}: restoring the saved pair failed, booting instead: ${(e as Error).message.split('\n')[0]}`)
              await saved.forget(key, pair)
              // An earlier run's save (another qemu, a changed host) is gone: this lab saves anew.
              if (!pair.earlier) saving = false
              await Promise.all(vms.map(killVm))
              vms = []
            }
            continue
          }
          const claim = saving ? await saved.claim(key) : undefined
          if (saving && !claim) continue // another lab is booting this pair right now: restore from its save
          try {
            const disks = topology.hosts.map((h) => join(claim?.dir ?? dir, `${h.name}${claim ? '' : '-booted'}.qcow2`))
            await Promise.all(disks.map((d) => makeOverlay(d, image.rootfs, 'raw')))
            progress(`lab ${id}: booting ${topology.hosts.map((h) => h.name).join(' and ')} (kernel ${image.kernel}, ${decision.accel.toUpperCase()})`)
            const t0 = performance.now()
            await launch(decision, disks)
            for (const vm of vms) {
              const qmp = vm.qmp!
              await options.onVmStarted?.({ name: vm.spec.name, accel: vm.accel, qmp })
            }
            await Promise.all(vms.map((vm) => waitForReadyMarker(vm, decision.accel === 'kvm' && decision.unproven === true)))
            const bootS = (performance.now() - t0) / 1000
            if (decision.accel === 'kvm' && decision.unproven) decision = recordKvmSuccess(kernelRef, bootS)
            startedFrom = `booted (${bootS.toFixed(1)} s)`
          } catch (e) {
            claim?.abandon()
            await Promise.all(vms.map(killVm))
            vms = []
            if (e instanceof GuestStopped && decision.accel === 'kvm') {
              decision = recordKvmFailure(kernelRef, e.failure)
              progress(`lab ${id}: ${decision.why}; booting again`)
              continue
            }
            throw e
          }
          if (!claim) break
          // Probed and saved, the booted VMs end; this lab, like every later one, starts from the save.
          const t1 = performance.now()
          const probed = await Promise.all(vms.map((vm) => probeForSave(vm, image).catch((e: Error) => {
            progress(`lab ${id}: ${vm.spec.name}: could not probe before the save, so every lab probes it (${e.message.split('\n')[0]})`)
            return undefined
          })))
          progress(`lab ${id}: probed the booted pair in ${((performance.now() - t1) / 1000).toFixed(1)} s`)
          try {
            const t0 = performance.now()
            const states = await Promise.all(vms.map((vm) => saveVm(vm, claim)))
            await claim.commit({
              vms: states.map((state, i) => ({ ...state, capabilities: probed[i] })), fromLab: id, savedAt: Date.now(),
              kind: `kernel ${image.kernel}, ${qemuAccel(decision.accel)}, ${topology.hosts.length} hosts`,
              booted: { underlayInterface: topology.underlay.interface, hostnames: topology.hosts.map((h) => h.hostname) },
            })
            progress(`lab ${id}: saved the booted pair in ${((performance.now() - t0) / 1000).toFixed(1)} s; labs on kernel ${image.kernel} start from it`)
            vms = []
            bootedIn = startedFrom
            startedFrom = ''
          } catch (e) {
            claim.abandon()
            progress(`lab ${id}: could not save the booted pair, so every lab boots (${(e as Error).message.split('\n')[0]})`)
            for (const vm of vms) {
              if ((await vm.qmp!.status().catch(() => undefined))?.running === false) await vm.qmp!.execute('cont').catch(() => {})
            }
          }
        }
        await Promise.all(vms.map((vm, i) => connectVm(vm, image, bootStarted, restoredFrom?.vms[i]?.capabilities)))
        // A restored guest's clock is where it was when it was saved: set it from this machine's.
        const setClock = `date -s @${Math.floor(Date.now() / 1000)} >/dev/null`
        await Promise.all(vms.map((vm, i) => vm.host!.succeed(`${setClock} && ${restoredFrom ? renameAfterRestore(restoredFrom, i, topology, vm.spec) : ''}${hostScript(topology, vm.spec.underlayAddress)}`)))

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
            accel: decision.accel,
            accelReason: decision.why,
            start: startedFrom,
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
}

export const qemuBackend: Backend = createQemuBackend()
