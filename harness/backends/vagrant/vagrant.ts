// The Vagrant backend: `vagrant up` on vagrant/Vagrantfile brings up Host 01 and Host 02,
// `vagrant ssh-config` says where their sshd is, and ssh2 runs every command as root in the
// lab's network namespace. Any provider works; with libvirt (and root) labproof's own netns
// gateway and internet host are plugged in, exactly as the netns and qemu backends do it:
//
//   VM ens33 ── macvtap (bridge mode) ─┐
//   VM ens33 ── macvtap (bridge mode) ─┴─ lpv<lab>  ═veth═  port-vagrant ── gateway's `underlay` bridge
//
// The veth's machine-side end has no address, answers no ARP and has IPv6 off: lab frames pass
// between the VMs and the gateway's namespace and nowhere else — no Linux bridge in the
// machine's namespace, so no br_netfilter/FORWARD rules (docker's DROP) see them either. With
// any other provider (or LABPROOF_VAGRANT_GATEWAY=vm) a third VM plays the gateway
// (vagrant/provision.sh gateway).
//
// The management network (vagrant ssh) is an isolated libvirt network labproof defines (no
// <forward>: no routing, no default route handed out; bridge lpm<lab>). labproof's own box keeps
// it in a network namespace of its own inside the guest, so the lab never sees it; on other
// boxes the provisioning takes away any default route through it.
//
// Names: every VM, network and volume is `labproof-<lab>-<owner>-…`, the dotfile dir is
// `$TMPDIR/labproof-vagrant-<lab>-<owner>-…`, the owner being labproof's PID and start time
// (ownership/owner.ts: a reused PID is not taken for it): what `labproof clean` looks for.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Host } from '../../host.ts'
import { hostLookup, newLabId, type Backend, type Lab, type ProvisionOptions } from '../../lab.ts'
import { runProcess } from '../../local-process.ts'
import { PACKAGE_DIR } from '../../package-info.ts'
import { GATEWAY, INTERNET, ipToInt, type Topology } from '../../topology.ts'
import { killNode, NetnsHost, startNode, type NodeProcess } from '../shared/namespace-node.ts'
import { gatewayScript, internetScript } from '../shared/topology.ts'
import { decideAccel, kvmFailureReason, recordKvmFailure, type Accel, type AccelDecision, type VmKernelRef } from '../shared/vm-accel.ts'
import { connectSsh, SshHost } from '../shared/ssh-host.ts'
import { BOX_NAME_PREFIX, ensureVagrantBox, installBootFiles, type VagrantBox } from './vagrant-box.ts'
import { domainTrouble, parseHostKeys, parseSshConfig, plainLines } from './vagrant-output.ts'
import { withLock } from '../../ownership/lock.ts'
import { ownerAlive, ownerTag, parseOwnerTag, OWNER_TAG_PATTERN, type Owner } from '../../ownership/owner.ts'

export const VAGRANT_NAME_PREFIX = 'labproof'
export const VAGRANT_DIR_PREFIX = 'labproof-vagrant'
export const VAGRANTFILE_DIR = join(PACKAGE_DIR, 'vagrant')
const LIBVIRT_URI = 'qemu:///system'
/** Lab commands run in PID 1's network namespace; labproof's box keeps sshd in another. */
const ENTER_LAB_NETNS = 'nsenter --net=/proc/1/ns/net --'
/** A bound only: a domain that stops is noticed within a second (watchDomains). */
const UP_TIMEOUT_MS = 600_000
const DESTROY_TIMEOUT_MS = 300_000

type GatewayMode = 'netns' | 'vm'

function progress(line: string): void {
  process.stderr.write(`[labproof vagrant] ${line}\n`)
}

/** Vagrant's own variables that keep it off the network and inside this lab's directory. */
function vagrantEnv(extra: Record<string, string>): Record<string, string> {
  return {
    VAGRANT_CHECKPOINT_DISABLE: '1',
    VAGRANT_BOX_UPDATE_CHECK_DISABLE: '1',
    VAGRANT_CWD: VAGRANTFILE_DIR,
    ...extra,
  }
}

interface VagrantResult {
  exitCode: number
  lines: string[]
  timedOut: boolean
  /** What `watch` said when it stopped vagrant. */
  stopped?: string
}

/** Asked every second while vagrant runs: a reason stops it at once (its process group is killed). */
type VagrantWatch = (lines: readonly string[]) => Promise<string | undefined>

/** Run vagrant, each output line to `onLine`; it dies with labproof (pdeathsig). */
function runVagrant(args: string[], env: Record<string, string>, timeoutMs: number, onLine: (line: string) => void = () => {}, watch?: VagrantWatch): Promise<VagrantResult> {
  return new Promise((resolve) => {
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'vagrant', ...args, '--no-color'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    const lines: string[] = []
    let timedOut = false
    const take = (d: Buffer) => {
      for (const line of plainLines(String(d))) {
        lines.push(line)
        onLine(line)
      }
    }
    child.stdout!.on('data', take)
    child.stderr!.on('data', take)
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // gone
      }
    }
    const timer = setTimeout(() => {
      timedOut = true
      killGroup()
    }, timeoutMs)
    let stopped: string | undefined
    let watching = false
    const watcher = watch && setInterval(() => {
      if (watching || stopped) return
      watching = true
      void watch(lines).then((why) => {
        watching = false
        if (why && !stopped) {
          stopped = why
          killGroup()
        }
      }, () => (watching = false))
    }, 1_000)
    child.on('error', (e) => lines.push(`cannot run vagrant: ${e.message}`))
    child.on('close', (code) => {
      clearTimeout(timer)
      clearInterval(watcher)
      resolve({ exitCode: timedOut ? 124 : stopped ? 125 : code ?? 1, lines, timedOut, ...(stopped ? { stopped } : {}) })
    })
  })
}

async function commandWorks(cmd: string): Promise<boolean> {
  return (await runProcess('sh', ['-c', cmd], { timeoutMs: 30_000 })).exitCode === 0
}

/** The provider vagrant will use, and whether labproof can drive libvirt directly. */
async function chooseProvider(): Promise<{ provider?: string; libvirt: boolean; why: string }> {
  const asked = process.env.VAGRANT_DEFAULT_PROVIDER
  const plugins = await runProcess('vagrant', ['plugin', 'list'], { timeoutMs: 60_000, env: vagrantEnv({}) })
  const hasLibvirtPlugin = /vagrant-libvirt/.test(plugins.stdout)
  if (asked && asked !== 'libvirt') return { provider: asked, libvirt: false, why: `VAGRANT_DEFAULT_PROVIDER=${asked}` }
  if (!hasLibvirtPlugin) {
    if (asked === 'libvirt') throw new Error('VAGRANT_DEFAULT_PROVIDER=libvirt but the vagrant-libvirt plugin is not installed (apt-get install vagrant-libvirt, or vagrant plugin install vagrant-libvirt)')
    return { libvirt: false, why: 'no vagrant-libvirt plugin: vagrant picks its default provider' }
  }
  if (!(await commandWorks(`virsh -c ${LIBVIRT_URI} uri`))) {
    throw new Error(`the vagrant-libvirt plugin is installed but libvirt does not answer at ${LIBVIRT_URI}: start libvirtd (and virtlogd), ` +
      'e.g. systemctl start libvirtd, or `virtlogd -d && libvirtd -d` where there is no systemd; ' +
      'or choose another provider with VAGRANT_DEFAULT_PROVIDER')
  }
  return { provider: 'libvirt', libvirt: true, why: asked ? 'VAGRANT_DEFAULT_PROVIDER=libvirt' : 'vagrant-libvirt plugin and libvirtd found' }
}

/** A /24 for the management network that no route of this machine covers yet. */
async function freeManagementSubnet(labId: string): Promise<string> {
  const routes = JSON.parse((await runProcess('ip', ['-j', '-4', 'route', 'show', 'table', 'all'], { timeoutMs: 10_000 })).stdout || '[]') as Array<{ dst: string }>
  const taken = routes.map((r) => r.dst).filter((d) => d && d !== 'default')
  const overlaps = (subnet: string) => taken.some((dst) => {
    const [a, lenText] = dst.split('/')
    const len = Math.min(Number(lenText ?? 32), 24)
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0
    try {
      return ((ipToInt(a!) & mask) >>> 0) === ((ipToInt(subnet) & mask) >>> 0)
    } catch {
      return false
    }
  })
  let seed = [...labId].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7)
  for (let i = 0; i < 200; i++, seed++) {
    const subnet = `10.231.${seed % 200 + 20}.0`
    if (!overlaps(subnet)) return `${subnet}/24`
  }
  throw new Error('vagrant backend: no free /24 in 10.231.0.0/16 for the management network')
}

/** The management network, defined by labproof rather than vagrant-libvirt: its bridge is named
 *  after the lab (vagrant-libvirt would pick the first free virbrN, which two labs starting at
 *  once can both pick), and a subnet another lab took meanwhile is retried. Isolated: no
 *  <forward>, so libvirt routes nothing from it and offers no default route. */
async function createManagementNetwork(name: string, bridge: string, labId: string, dir: string): Promise<string> {
  let lastError = ''
  for (let attempt = 0; attempt < 8; attempt++) {
    const subnet = await freeManagementSubnet(`${labId}${attempt || ''}`)
    const base = subnet.split('.').slice(0, 3).join('.')
    const file = join(dir, 'mgmt-network.xml')
    await writeFile(file, `<network>\n  <name>${name}</name>\n  <bridge name='${bridge}' stp='on' delay='0'/>\n` +
      `  <ip address='${base}.1' netmask='255.255.255.0'>\n    <dhcp><range start='${base}.2' end='${base}.254'/></dhcp>\n  </ip>\n</network>\n`)
    const defined = await virsh(['net-define', file])
    if (!defined.ok) throw new Error(`vagrant backend: virsh net-define ${name} failed: ${defined.err}`)
    const started = await virsh(['net-start', name])
    if (started.ok) return subnet
    lastError = started.err
    await virsh(['net-undefine', name])
  }
  throw new Error(`vagrant backend: could not start the management network ${name}: ${lastError}`)
}

/** One process at a time uploads a box's base image into libvirt's pool (vagrant-libvirt's own
 *  lock is per process: two labs starting at once would both upload the same volume). */
async function withBoxUploadLock<T>(boxName: string, work: () => Promise<T>): Promise<T> {
  const prefix = `${boxDirName(boxName)}_vagrant_box_image_`
  const uploaded = async () => (await volumeNames()).some((v) => v.startsWith(prefix))
  if (await uploaded()) return work()
  const lock = join(tmpdir(), `${VAGRANT_DIR_PREFIX}-upload-${boxDirName(boxName)}.lock`)
  return withLock(lock, { purpose: `uploading ${boxName} into libvirt`, onWait: (holder) => progress(`waiting for ${holder}`) }, work)
}

function boxDirName(name: string): string {
  return name.replace(/\//g, '-VAGRANTSLASH-')
}

/** Add labproof's box to vagrant once; drop the boxes (and libvirt base volumes) of earlier recipes. */
async function addLocalBox(box: VagrantBox): Promise<void> {
  const boxes = join(process.env.VAGRANT_HOME ?? join(homedir(), '.vagrant.d'), 'boxes')
  if (!existsSync(join(boxes, boxDirName(box.name)))) {
    progress(`vagrant box add ${box.name} (${box.file})`)
    const added = await runVagrant(['box', 'add', '--force', '--name', box.name, box.file], vagrantEnv({}), 300_000)
    if (added.exitCode !== 0) throw new Error(`vagrant box add ${box.name} failed:\n${added.lines.slice(-20).join('\n')}`)
  }
  const stale = (await readdir(boxes).catch(() => [] as string[]))
    .filter((d) => d.startsWith(boxDirName(`${BOX_NAME_PREFIX}-`)) && d !== boxDirName(box.name))
  for (const d of stale) {
    const name = d.replace(/-VAGRANTSLASH-/g, '/')
    await runVagrant(['box', 'remove', '--force', '--all', name], vagrantEnv({}), 120_000)
    progress(`removed the box ${name} of an earlier recipe`)
  }
  for (const v of await volumeNames()) {
    if (v.startsWith(`${boxDirName(`${BOX_NAME_PREFIX}-`)}`) && !v.startsWith(boxDirName(box.name))) {
      await runProcess('virsh', ['-c', LIBVIRT_URI, 'vol-delete', '--pool', 'default', v], { timeoutMs: 30_000 })
      progress(`deleted the libvirt volume ${v} of an earlier box`)
    }
  }
}

/** The veth from the machine's namespace (for libvirt's macvtaps) to the gateway's bridge. */
async function plugUnderlay(device: string, gatewayPid: number): Promise<void> {
  const script = [
    `ip link add ${device} type veth peer name port-vagrant netns ${gatewayPid}`,
    // Nothing of this machine's own may speak on the lab's segment.
    `sysctl -qw net.ipv6.conf.${device}.disable_ipv6=1`,
    `ip link set ${device} arp off multicast off`,
    `ip link set ${device} up`,
  ].join(' && ')
  const made = await runProcess('sh', ['-c', script], { timeoutMs: 10_000 })
  if (made.exitCode !== 0) throw new Error(`vagrant backend: could not make the underlay veth ${device}: ${made.stderr}`)
  const wired = await runProcess('nsenter', ['-t', String(gatewayPid), '-n', '--', 'sh', '-c', 'ip link set port-vagrant master underlay && ip link set port-vagrant up'], { timeoutMs: 10_000 })
  if (wired.exitCode !== 0) throw new Error(`vagrant backend: could not attach port-vagrant to the gateway's bridge: ${wired.stderr}`)
}

/** libvirt's macvtaps on the veth come up with IPv6 on: turn it off, so this machine's own
 *  stack sends nothing (router solicitations, MLD) onto the lab's segment. */
async function silenceMacvtaps(device: string): Promise<string[]> {
  const uppers = (await readdir(`/sys/class/net/${device}`).catch(() => [] as string[]))
    .filter((e) => e.startsWith('upper_')).map((e) => e.slice('upper_'.length))
  for (const u of uppers) await writeFile(`/proc/sys/net/ipv6/conf/${u}/disable_ipv6`, '1').catch(() => {})
  return uppers
}

async function consoleTails(dir: string): Promise<string> {
  const logs = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.console.log'))
  const parts = await Promise.all(logs.map(async (f) => {
    const text = (await readFile(join(dir, f), 'utf8').catch(() => '')).trimEnd().split('\n').slice(-12).join('\n')
    return `${f}:\n${text || '(empty)'}`
  }))
  return parts.join('\n')
}

/** While `vagrant up` runs: a domain libvirt paused or that crashed stops it at once, with
 *  libvirt's reason and what qemu said in the domain's log; and while vagrant prints nothing
 *  (waiting for an IP address), what it waits for and each domain's state every 10 s.
 *  `onRunning` hears once of each domain seen running (a test pauses it there). */
function watchDomains(domains: string[], onRunning?: (domain: string) => Promise<void> | void): VagrantWatch {
  const started = Date.now()
  let quietSince = started
  let linesSeen = 0
  const seenRunning = new Set<string>()
  return async (lines) => {
    const states: string[] = []
    for (const d of domains) {
      const r = await virsh(['domstate', '--reason', d])
      if (!r.ok) continue // not defined yet
      states.push(`${d.split('-').pop()} ${r.out.trim()}`)
      if (onRunning && /^running/.test(r.out.trim()) && !seenRunning.has(d)) {
        seenRunning.add(d)
        await onRunning(d)
      }
      const trouble = domainTrouble(r.out)
      if (!trouble) continue
      const log = await readFile(`/var/log/libvirt/qemu/${d}.log`, 'utf8').catch(() => '')
      const said = kvmFailureReason(log)
      progress(`libvirt domain ${d} is ${trouble}; its log (/var/log/libvirt/qemu/${d}.log) ends:\n${log.trimEnd().split('\n').slice(-8).join('\n')}`)
      return `libvirt domain ${d} is ${trouble}${said ? ` (qemu: ${said})` : ''}`
    }
    if (lines.length !== linesSeen) {
      linesSeen = lines.length
      quietSince = Date.now()
    } else if (Date.now() - quietSince >= 10_000) {
      quietSince = Date.now()
      progress(`still waiting after "${lines.at(-1)?.trim() ?? 'vagrant up'}" (${Math.round((Date.now() - started) / 1000)} s so far; ${states.join(', ') || 'no domain yet'})`)
    }
    return undefined
  }
}

interface Machine {
  name: string
  host?: SshHost
}

/** What tests may change, as for the qemu backend: how the accelerator is decided, which libvirt
 *  domain type a decision runs with, and what happens once a domain runs (to do to it what a
 *  broken KVM does). */
export interface VagrantBackendOptions {
  decideAccel?: (kernel: VmKernelRef) => Promise<AccelDecision>
  libvirtDriver?: (accel: Accel) => 'kvm' | 'qemu'
  onDomainRunning?: (domain: { name: string; accel: Accel }) => Promise<void> | void
}

export function createVagrantBackend(options: VagrantBackendOptions = {}): Backend {
  const decide = options.decideAccel ?? decideAccel
  const libvirtDriver = options.libvirtDriver ?? ((accel: Accel) => (accel === 'kvm' ? 'kvm' : 'qemu'))

  return {
    name: 'vagrant',
    async provision(topology: Topology, opts: ProvisionOptions = {}): Promise<Lab> {
      if (opts.kernel) throw new Error('the vagrant backend boots the box\'s own kernel; --kernel is for the qemu backend')
      if (!(await commandWorks('command -v vagrant'))) {
        throw new Error('the vagrant backend needs vagrant (apt-get install vagrant vagrant-libvirt libvirt-daemon-system, or https://developer.hashicorp.com/vagrant/install)')
      }
      const started = performance.now()
      const { provider, libvirt, why: providerWhy } = await chooseProvider()
      const root = process.getuid?.() === 0
      // libvirt as root: the underlay is macvtaps on labproof's veth (no bridge in this machine's
      // namespace). The gateway is labproof's netns node there, unless LABPROOF_VAGRANT_GATEWAY=vm
      // asks for the gateway VM every other provider uses (then the veth ends on a bare bridge).
      const macvtapUnderlay = libvirt && root
      const gatewayMode: GatewayMode = macvtapUnderlay && process.env.LABPROOF_VAGRANT_GATEWAY !== 'vm' ? 'netns' : 'vm'
      const boxStarted = performance.now()
      let box: VagrantBox | undefined
      let boxName = process.env.LABPROOF_VAGRANT_BOX ?? (opts.distro && opts.distro.includes('/') ? opts.distro : undefined)
      if (!boxName && libvirt) {
        if (!root) throw new Error('building labproof\'s local Vagrant box needs root; or set LABPROOF_VAGRANT_BOX to a box you have')
        box = await ensureVagrantBox()
        await installBootFiles(box)
        await addLocalBox(box)
        boxName = box.name
      }
      const boxMs = Math.round(performance.now() - boxStarted)

      const id = newLabId()
      const dir = await mkdtemp(join(tmpdir(), `${VAGRANT_DIR_PREFIX}-${id}-${ownerTag()}-`))
      const underlayDevice = `lpv${id.slice(-8)}`
      const nodes = new Map<string, NodeProcess>()
      let internetHost: NetnsHost | undefined
      const names = [...topology.hosts.map((h) => h.name), ...(gatewayMode === 'vm' ? [GATEWAY] : [])]
      const machines: Machine[] = names.map((name) => ({ name }))
      let env: Record<string, string> = {}
      let upStarted = false
      let destroyed: Promise<void> | undefined
      const destroy = () => (destroyed ??= destroyOnce())
      const destroyOnce = async () => {
        for (const m of machines) m.host?.close()
        if (upStarted) {
          const t0 = performance.now()
          const r = await runVagrant(['destroy', '-f'], env, DESTROY_TIMEOUT_MS)
          if (r.exitCode !== 0) progress(`vagrant destroy -f failed (exit ${r.exitCode}); sweeping by name:\n${r.lines.slice(-10).join('\n')}`)
          else progress(`vagrant destroy -f: ${((performance.now() - t0) / 1000).toFixed(1)} s`)
        }
        if (libvirt) await sweepLibvirt((labId) => labId === id)
        // The veth would go with the gateway's namespace, but only once the kernel gets round to it.
        if (macvtapUnderlay) await runProcess('ip', ['link', 'del', underlayDevice], { timeoutMs: 10_000 })
        await Promise.all([...nodes.values()].map(killNode))
        await rm(dir, { recursive: true, force: true })
      }

      try {
        if (gatewayMode === 'netns') {
          for (const n of [GATEWAY, INTERNET]) nodes.set(n, await startNode(id, n))
          const gatewayPid = nodes.get(GATEWAY)!.innerPid
          const pids = new Map([[GATEWAY, gatewayPid], [INTERNET, nodes.get(INTERNET)!.innerPid]])
          const wiring = await runProcess('nsenter', ['-t', String(gatewayPid), '-n', '--', 'sh', '-c', gatewayScript(topology, pids, [])], { timeoutMs: 10_000 })
          if (wiring.exitCode !== 0) throw new Error(`vagrant backend: could not wire the gateway: ${wiring.stderr}`)
          // The lab's internet host: it takes the node's own shell, so it is the only one made.
          internetHost = new NetnsHost(INTERNET, nodes.get(INTERNET)!)
          await internetHost.succeed(internetScript(topology))
          await plugUnderlay(underlayDevice, gatewayPid)
        } else if (macvtapUnderlay) {
          const segment = await startNode(id, 'underlay-segment')
          nodes.set('underlay-segment', segment)
          await new NetnsHost('underlay-segment', segment).succeed('ip link add underlay type bridge && ip link set underlay up')
          await plugUnderlay(underlayDevice, segment.innerPid)
        }
        // The box's kernel is booted under KVM first (a few seconds) where KVM may not run it.
        const kernelRef: VmKernelRef = box
          ? { series: box.kernelRelease.replace(/^(\d+\.\d+).*/, '$1'), release: box.kernelRelease, vmlinuz: join(box.dir, 'vmlinuz') }
          : { series: `box ${boxName ?? 'default'}`, release: boxName ?? 'default' }
        let accel = libvirt ? await decide(kernelRef) : undefined
        if (accel) progress(`libvirt domain type ${accel.accel === 'kvm' ? 'kvm' : 'qemu (TCG)'}: ${accel.why}`)
        env = vagrantEnv({
          VAGRANT_DOTFILE_PATH: join(dir, '.vagrant'),
          LABPROOF_LAB_ID: id,
          LABPROOF_OWNER: ownerTag(),
          LABPROOF_UNDERLAY_IF: topology.underlay.interface,
          LABPROOF_GATEWAY: topology.underlay.gateway,
          LABPROOF_INTERNET: topology.internet.addresses.join(','),
          LABPROOF_VAGRANT_HOSTS: topology.hosts.map((h) => `${h.name},${h.hostname},${h.underlayAddress}`).join(';'),
          LABPROOF_VAGRANT_GATEWAY: gatewayMode === 'netns' ? 'external' : 'vm',
          ...(boxName ? { LABPROOF_VAGRANT_BOX: boxName } : {}),
          ...(provider ? { VAGRANT_DEFAULT_PROVIDER: provider } : {}),
          ...(macvtapUnderlay ? { LABPROOF_VAGRANT_UNDERLAY_DEV: underlayDevice } : {}),
          ...(libvirt ? {
            LABPROOF_VAGRANT_MGMT_NET: await createManagementNetwork(`${VAGRANT_NAME_PREFIX}-${id}-${ownerTag()}-mgmt`, `lpm${id.slice(-8)}`, id, dir),
            LABPROOF_VAGRANT_LIBVIRT_DRIVER: libvirtDriver(accel!.accel),
            LABPROOF_VAGRANT_CONSOLE_DIR: dir,
          } : {}),
        })
        // `labproof clean` replays `vagrant destroy -f` with this if the run is killed.
        await writeFile(join(dir, 'env.json'), `${JSON.stringify(env, null, 2)}\n`)

        progress(`vagrant up ${names.join(' ')} (provider ${provider ?? 'vagrant\'s default'}: ${providerWhy}; box ${boxName ?? 'the Vagrantfile\'s default'}; gateway ${gatewayMode})`)
        const upT0 = performance.now()
        upStarted = true
        let lastProgress = 0
        const domains = names.map((n) => `${VAGRANT_NAME_PREFIX}-${id}-${ownerTag()}-${n}`)
        const vagrantUp = () => runVagrant(['up', ...(provider ? ['--provider', provider] : [])], env, UP_TIMEOUT_MS, (line) => {
          if (/Progress: \d+%/.test(line)) {
            // The base box upload redraws one bar; show it every few seconds only.
            if (Date.now() - lastProgress < 5_000) return
            lastProgress = Date.now()
          }
          progress(line.trim())
        }, libvirt ? watchDomains(domains, options.onDomainRunning && ((name) => options.onDomainRunning!({ name, accel: accel!.accel }))) : undefined)
        // libvirt makes the macvtaps as the domains start: turn their IPv6 off as soon as they appear.
        const silencer = macvtapUnderlay ? setInterval(() => void silenceMacvtaps(underlayDevice), 50) : undefined
        let up: VagrantResult
        try {
          for (;;) {
            up = await (libvirt && boxName ? withBoxUploadLock(boxName, vagrantUp) : vagrantUp())
            if (!(up.stopped && accel?.accel === 'kvm')) break
            // KVM stopped the box's kernel: the same lab again, under TCG, and every later lab too.
            accel = recordKvmFailure(kernelRef, up.stopped)
            progress(`${accel.why}; vagrant destroy -f, then vagrant up again with the libvirt domain type qemu`)
            await runVagrant(['destroy', '-f'], env, DESTROY_TIMEOUT_MS)
            env = { ...env, LABPROOF_VAGRANT_LIBVIRT_DRIVER: libvirtDriver(accel.accel) }
            await writeFile(join(dir, 'env.json'), `${JSON.stringify(env, null, 2)}\n`)
          }
        } finally {
          clearInterval(silencer)
        }
        const upMs = Math.round(performance.now() - upT0)
        if (up.exitCode !== 0) {
          throw new Error(`vagrant backend: vagrant up failed (${up.stopped ? `stopped: ${up.stopped}` : `exit ${up.exitCode}`}${up.timedOut ? `, no result within ${UP_TIMEOUT_MS / 1000} s` : ''}):\n` +
            `${up.lines.filter((l) => !/Progress: \d+%/.test(l)).slice(-30).join('\n')}\n${await consoleTails(dir)}`)
        }
        const hostKeys = parseHostKeys(up.lines)
        const silenced = macvtapUnderlay ? await silenceMacvtaps(underlayDevice) : []

        const sshConfig = await runVagrant(['ssh-config', ...names], env, 120_000)
        if (sshConfig.exitCode !== 0) throw new Error(`vagrant backend: vagrant ssh-config failed:\n${sshConfig.lines.slice(-20).join('\n')}`)
        const entries = parseSshConfig(sshConfig.lines.join('\n'))
        const connectT0 = performance.now()
        await Promise.all(machines.map(async (m) => {
          const entry = entries.get(m.name)
          const pinned = hostKeys.get(m.name)
          if (!entry?.hostName) throw new Error(`vagrant backend: vagrant ssh-config says nothing of ${m.name}:\n${sshConfig.lines.join('\n')}`)
          if (!pinned?.length) throw new Error(`vagrant backend: the provisioning of ${m.name} printed no host key (labproof-host-key lines); was it provisioned by vagrant/provision.sh?`)
          const privateKey = await readFile(entry.identityFiles.find((f) => existsSync(f)) ?? entry.identityFiles[0] ?? '')
          const connection = await connectSsh({
            host: entry.hostName, port: entry.port, username: 'root', privateKey, hostKeySha256: pinned,
            readyTimeoutMs: 30_000, commandPrefix: ENTER_LAB_NETNS, maxChannels: box ? 32 : 8,
          })
          m.host = new SshHost(m.name, connection, { session: true })
        }))
        const connectMs = Math.round(performance.now() - connectT0)

        const hosts = new Map<string, Host>(topology.hosts.map((h) => [h.name, machines.find((m) => m.name === h.name)!.host!]))
        if (gatewayMode === 'netns') {
          hosts.set(GATEWAY, new NetnsHost(GATEWAY, nodes.get(GATEWAY)!))
          hosts.set(INTERNET, internetHost!)
        } else {
          const gw = machines.find((m) => m.name === GATEWAY)!
          hosts.set(GATEWAY, gw.host!)
          const entry = entries.get(GATEWAY)!
          const internet = await connectSsh({
            host: entry.hostName, port: entry.port, username: 'root', privateKey: await readFile(entry.identityFiles[0]!),
            hostKeySha256: hostKeys.get(GATEWAY)!, readyTimeoutMs: 30_000,
            commandPrefix: `${ENTER_LAB_NETNS} ip netns exec internet`,
          })
          const internetHost = new SshHost(INTERNET, internet, { session: true })
          machines.push({ name: INTERNET, host: internetHost })
          hosts.set(INTERNET, internetHost)
        }
        const kernel = (await hosts.get(topology.hosts[0]!.name)!.exec('uname -r')).stdout.trim()
        return {
          backend: 'vagrant',
          id,
          topology,
          hosts,
          facts: {
            backend: 'vagrant',
            provider: provider ?? 'vagrant default',
            providerReason: providerWhy,
            box: boxName ?? 'Vagrantfile default',
            ...(box ? { boxFile: box.file } : {}),
            kernel,
            gateway: gatewayMode === 'netns' ? 'labproof netns node' : 'gateway VM',
            underlay: macvtapUnderlay ? `macvtaps on the veth ${underlayDevice}` : 'the provider\'s internal network',
            ...(accel ? { accel: accel.accel, accelReason: accel.why } : {}),
            hostKeys: 'pinned from the provisioning output (vagrant does not check them: StrictHostKeyChecking no)',
            ...(silenced.length ? { macvtaps: silenced.join(' ') } : {}),
            boxMs: String(boxMs),
            upMs: String(upMs),
            connectMs: String(connectMs),
            provisionMs: String(Math.round(performance.now() - started)),
          },
          host: hostLookup(hosts, 'vagrant'),
          destroy,
        }
      } catch (e) {
        await destroy()
        throw e
      }
    },
  }
}

export const vagrantBackend: Backend = createVagrantBackend()

const NAMED = new RegExp(`^${VAGRANT_NAME_PREFIX}-(lp\\w+)-(${OWNER_TAG_PATTERN})-`)

async function virsh(args: string[]): Promise<{ ok: boolean; out: string; err: string }> {
  const r = await runProcess('virsh', ['-c', LIBVIRT_URI, ...args], { timeoutMs: 60_000 })
  return { ok: r.exitCode === 0, out: r.stdout, err: r.stderr.trim() }
}

/** Volumes of libvirt's default pool (this virsh's vol-list has no --name: read the table). */
async function volumeNames(): Promise<string[]> {
  const table = await virsh(['vol-list', 'default'])
  if (!table.ok) return []
  const lines = table.out.split('\n')
  const rule = lines.findIndex((l) => /^-{5,}/.test(l.trim()))
  return lines.slice(rule + 1).map((l) => l.trim().split(/\s+/)[0] ?? '').filter(Boolean)
}

/** libvirt domains, networks and volumes of the labs `stale` picks, removed by name. */
async function sweepLibvirt(stale: (labId: string, owner: Owner) => boolean): Promise<string[]> {
  const removed: string[] = []
  const pick = (name: string) => {
    const m = NAMED.exec(name)
    return m && stale(m[1]!, parseOwnerTag(m[2])!) ? m[1]! : undefined
  }
  // The three lists at once: each virsh connects to libvirtd anew (this sweep runs before every run).
  const [domains, networks, volumes] = await Promise.all([virsh(['list', '--all', '--name']), virsh(['net-list', '--all', '--name']), volumeNames()])
  if (!domains.ok) return removed // no libvirt here
  for (const d of domains.out.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const lab = pick(d)
    if (!lab) continue
    await virsh(['destroy', d])
    if ((await virsh(['undefine', d, '--remove-all-storage'])).ok) removed.push(`libvirt domain ${d} of lab ${lab}`)
  }
  for (const n of networks.out.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const lab = pick(n)
    if (!lab) continue
    await virsh(['net-destroy', n])
    if ((await virsh(['net-undefine', n])).ok) removed.push(`libvirt network ${n} of lab ${lab}`)
  }
  for (const v of volumes) {
    const lab = pick(v)
    if (!lab) continue
    if ((await virsh(['vol-delete', '--pool', 'default', v])).ok) removed.push(`libvirt volume ${v} of lab ${lab}`)
  }
  return removed
}

/** What a killed run left: its VMs (replaying `vagrant destroy -f` from its directory, for any
 *  provider), then anything of libvirt still named after a lab whose labproof process is gone. */
export async function reapVagrantLeftovers(): Promise<string[]> {
  const removed: string[] = []
  for (const name of await readdir(tmpdir())) {
    const m = new RegExp(`^${VAGRANT_DIR_PREFIX}-(\\w+)-(${OWNER_TAG_PATTERN})-`).exec(name)
    if (!m || ownerAlive(parseOwnerTag(m[2])!)) continue
    // Claim it first: another labproof process may be sweeping at the same moment, and two
    // `vagrant destroy` on one directory fail each other. The claim names this process as the
    // owner, so if it dies midway the next sweep takes over.
    const dir = join(tmpdir(), `${VAGRANT_DIR_PREFIX}-${m[1]}-${ownerTag()}-reaping`)
    try {
      await rename(join(tmpdir(), name), dir)
    } catch {
      continue
    }
    const env = await readFile(join(dir, 'env.json'), 'utf8').then((t) => JSON.parse(t) as Record<string, string>).catch(() => undefined)
    if (env) env.VAGRANT_DOTFILE_PATH = join(dir, '.vagrant')
    if (env && existsSync(join(dir, '.vagrant')) && await commandWorks('command -v vagrant')) {
      // The underlay veth died with the run's gateway node, and vagrant refuses a Vagrantfile
      // naming a missing device even to destroy: replay without it (nothing else depends on it).
      delete env.LABPROOF_VAGRANT_UNDERLAY_DEV
      const r = await runVagrant(['destroy', '-f'], env, DESTROY_TIMEOUT_MS)
      if (r.exitCode === 0) removed.push(`vagrant machines of lab ${m[1]} (vagrant destroy -f)`)
      else progress(`vagrant destroy -f for lab ${m[1]} failed (exit ${r.exitCode}); sweeping libvirt by name:\n${r.lines.slice(-15).join('\n')}`)
    }
    await rm(dir, { recursive: true, force: true })
    removed.push(`vagrant directory of lab ${m[1]} (${dir})`)
  }
  // Without virsh, its first list fails to start and the sweep ends there.
  removed.push(...await sweepLibvirt((_lab, owner) => !ownerAlive(owner)))
  return removed
}

