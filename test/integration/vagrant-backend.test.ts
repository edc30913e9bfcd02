// The Vagrant backend with the libvirt provider: vagrant up of vagrant/Vagrantfile (labproof's
// local box, built from the qemu backend's image), the netns gateway on a veth, ssh2 to the VMs.
// Checks the picture, that nothing of the lab reaches the machine's real NICs, and what is left
// after destroy and after the owner is SIGKILLed; a domain paused as a broken KVM pauses it ends
// `vagrant up` at once and the lab comes up under TCG. Slow: two VM boots under TCG per lab.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { ensureVagrantBox } from '../../harness/backends/vagrant/vagrant-box.ts'
import { createVagrantBackend, reapVagrantLeftovers, vagrantBackend, VAGRANT_DIR_PREFIX } from '../../harness/backends/vagrant/vagrant.ts'
import { forgetAccelDecisions } from '../../harness/backends/shared/vm-accel.ts'
import type { Lab } from '../../harness/lab.ts'
import { ownerTag } from '../../harness/ownership/owner.ts'
import { parsePing } from '../../harness/parse/ping.ts'
import { parseJunit } from '../../harness/report/junit.ts'
import { loadScenarios, selectScenarios } from '../../harness/scenario/loader.ts'
import { planSteps } from '../../harness/scenario/plan.ts'
import { buildTopology } from '../../harness/topology.ts'
import { describeWithEngine } from '../helpers/engines.ts'
import { startOwnerProcess } from '../helpers/owner-process.ts'
import { stopWatching, watchRealInterfaces, type NicWatcher } from '../helpers/real-nic-watch.ts'
import { waitUntil } from '../helpers/wait.ts'

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const sh = (cmd: string) => spawnSync('sh', ['-c', cmd], { encoding: 'utf8', env: { ...process.env, VAGRANT_CHECKPOINT_DISABLE: '1' } })
const has = (cmd: string) => sh(`command -v ${cmd}`).status === 0

function whyNot(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (the netns gateway, the underlay veth, libvirt\'s system instance)'
  if (!has('vagrant')) return 'needs vagrant (apt-get install vagrant vagrant-libvirt libvirt-daemon-system qemu-system-x86)'
  if (!/vagrant-libvirt/.test(sh('vagrant plugin list').stdout)) return 'needs the vagrant-libvirt plugin (apt-get install vagrant-libvirt)'
  if (!has('virsh') || sh('virsh -c qemu:///system uri').status !== 0) return 'libvirtd does not answer at qemu:///system (start virtlogd and libvirtd: ci/setup.sh --vagrant)'
  if (!has('qemu-img') || !has('debootstrap') || !has('debugfs')) return 'needs qemu-utils, debootstrap and e2fsprogs to build the box'
  return undefined
}
const skipReason = whyNot()

const LAB_TRAFFIC = 'net 192.168.21.0/24 or host 8.8.8.8 or net 100.64.0.0/30 or ip proto 4'

/** What libvirt holds of one lab: names carry `labproof-<lab>-`. */
function libvirtLeftovers(labId: string) {
  const names = (args: string) => sh(`virsh -c qemu:///system ${args}`).stdout.split('\n').map((l) => l.trim()).filter((l) => l.includes(`labproof-${labId}-`))
  return {
    domains: names('list --all --name'),
    networks: names('net-list --all --name'),
    volumes: names('vol-list default').map((l) => l.split(/\s+/)[0]!),
  }
}

describeWithEngine('vagrant', skipReason, 'vagrant backend, libvirt provider', () => {
  let lab: Lab
  let dir: string
  let watchers: NicWatcher[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'labproof-vagrant-test-'))
    watchers = await watchRealInterfaces(dir, LAB_TRAFFIC)
    const t0 = performance.now()
    lab = await vagrantBackend.provision(buildTopology())
    console.log(`vagrant backend: provisioned in ${Math.round(performance.now() - t0)} ms; facts ${JSON.stringify(lab.facts)}`)
  }, 1_200_000)

  afterAll(async () => {
    await lab?.destroy()
    for (const w of watchers) w.child.kill('SIGKILL')
    if (dir) await rm(dir, { recursive: true, force: true })
  }, 600_000)

  test('names every VM, network and volume after the lab', () => {
    const held = libvirtLeftovers(lab.id)
    // The owner is this process by PID and start time, so a reused PID is not taken for it.
    const owner = ownerTag()
    expect(owner).toMatch(/^\d+\.\d+$/)
    expect(held.domains.sort()).toEqual([`labproof-${lab.id}-${owner}-host01`, `labproof-${lab.id}-${owner}-host02`])
    expect(held.networks).toEqual([`labproof-${lab.id}-${owner}-mgmt`])
    expect(held.volumes.sort()).toEqual([`labproof-${lab.id}-${owner}-host01.img`, `labproof-${lab.id}-${owner}-host02.img`])
  })

  test('hosts are host-01 and host-02, with ens33 on the underlay and a default route via the gateway', async () => {
    expect((await lab.host('host01').succeed('hostname')).trim()).toBe('host-01')
    expect((await lab.host('host02').succeed('hostname')).trim()).toBe('host-02')
    const addr = JSON.parse(await lab.host('host01').succeed('ip -j addr show dev ens33'))[0]
    expect(addr.addr_info.find((a: { family: string }) => a.family === 'inet')).toMatchObject({ local: '192.168.21.11', prefixlen: 24 })
    expect(await lab.host('host01').succeed('ip route show default')).toMatch(/^default via 192\.168\.21\.1 dev ens33 *\n$/)
  })

  test('the management network is isolated: not in the lab\'s namespace, and libvirt forwards nothing from it', async () => {
    const links = JSON.parse(await lab.host('host01').succeed('ip -j link show')) as Array<{ ifname: string }>
    expect(links.map((l) => l.ifname).filter((n) => !/^(tunl0|gre0|gretap0|erspan0|sit0|ip_vti0|dummy0)$/.test(n))).toEqual(['lo', 'ens33'])
    const xml = sh(`virsh -c qemu:///system net-dumpxml labproof-${lab.id}-${ownerTag()}-mgmt`).stdout
    expect(xml).toContain('<dhcp>')
    expect(xml).not.toContain('<forward')
  })

  test('the host key is pinned: the box\'s own, as the provisioning printed it', async () => {
    const box = await ensureVagrantBox()
    expect(lab.facts.box).toBe(box.name)
    const seen = (await lab.host('host01').succeed('ssh-keygen -l -E sha256 -f /etc/ssh/ssh_host_ed25519_key.pub')).split(/\s+/)[1]
    expect(seen).toBe(box.hostKeySha256)
  })

  test('host01 reaches host02 (ttl 64) and 8.8.8.8 through the gateway (ttl 63)', async () => {
    const h = parsePing((await lab.host('host01').exec('ping -c 2 -i 0.2 -W 2 192.168.21.12')).stdout)
    expect(h.replies.map((r) => r.ttl)).toEqual([64, 64])
    const i = parsePing((await lab.host('host01').exec('ping -c 2 -i 0.2 -W 2 8.8.8.8')).stdout)
    expect(i.replies.map((r) => r.ttl)).toEqual([63, 63])
  })

  test('the capability probe finds ipip in the VM', async () => {
    const caps = await lab.host('host01').capabilities()
    expect(caps.kernelRelease).toBe(lab.facts.kernel)
    expect(caps.features.ipip).toBe(true)
  })

  test('a timed-out command in a VM is killed with its children', async () => {
    const r = await lab.host('host02').exec('sleep 77.5 & sleep 77.5', { timeoutMs: 1_000 })
    expect(r).toMatchObject({ exitCode: 124, timedOut: true })
    expect((await lab.host('host02').exec(`ps -eo args | grep -c '^sleep 77.5$'`)).stdout.trim()).toBe('0')
  })

  test('destroy leaves no VM, no libvirt network, no lab volume, no veth and no directory', async () => {
    const underlay = `lpv${lab.id.slice(-8)}`
    expect(existsSync(`/sys/class/net/${underlay}`)).toBe(true)
    const t0 = performance.now()
    await lab.destroy()
    console.log(`vagrant backend: destroyed in ${Math.round(performance.now() - t0)} ms`)
    expect(libvirtLeftovers(lab.id)).toEqual({ domains: [], networks: [], volumes: [] })
    expect(existsSync(`/sys/class/net/${underlay}`)).toBe(false)
    expect(readdirSync(tmpdir()).filter((d) => d.startsWith(`${VAGRANT_DIR_PREFIX}-${lab.id}-`))).toEqual([])
    // What stays is the cache: the box's base volume, shared by every lab.
    const boxVolumes = sh('virsh -c qemu:///system vol-list default').stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]!).filter((v) => v.startsWith('labproof-'))
    expect(boxVolumes.every((v) => v.startsWith('labproof-VAGRANTSLASH-bookworm-'))).toBe(true)
  }, 600_000)

  test('no lab packet appeared on the machine\'s real interfaces', async () => {
    expect(watchers.length).toBeGreaterThan(0)
    for (const { iface, capture } of await stopWatching(watchers)) {
      expect(capture.packets.length, `lab packets seen on ${iface}`).toBe(0)
    }
  })

  test('a SIGKILLed owner leaves its VMs running; labproof clean removes them', async () => {
    const owner = await startOwnerProcess({ module: 'harness/backends/vagrant/vagrant.ts', backend: 'vagrantBackend' })
    try {
      const { labId } = owner
      const underlay = `/sys/class/net/lpv${labId.slice(-8)}`
      expect(existsSync(underlay)).toBe(true)
      owner.child.kill('SIGKILL')
      expect(await owner.exited).toBe('SIGKILL')
      // The gateway node dies with its owner (pdeathsig), and its veth with it.
      await waitUntil(`the underlay veth of lab ${labId} to go with its gateway`, () => !existsSync(underlay))
      const left = libvirtLeftovers(labId)
      const running = sh('virsh -c qemu:///system list --name').stdout.split('\n').filter((d) => d.includes(`labproof-${labId}-`))
      const dirs = readdirSync(tmpdir()).filter((d) => d.startsWith(`${VAGRANT_DIR_PREFIX}-${labId}-`))
      console.log(`vagrant backend: after SIGKILL of the owner: ${JSON.stringify({ ...left, running, dirs })}`)
      expect(left.domains).toHaveLength(2)
      expect(running).toHaveLength(2) // libvirt owns the VMs: they outlive labproof
      const t0 = performance.now()
      const removed = await reapVagrantLeftovers()
      console.log(`vagrant backend: labproof clean in ${Math.round(performance.now() - t0)} ms: ${removed.join('; ')}`)
      // Another labproof process on this machine may sweep the dead owner's lab first: then it is
      // gone all the same, which is what is checked below.
      if (!removed.some((r) => r.includes(labId))) console.log(`vagrant backend: lab ${labId} was swept by another labproof process`)
      expect(libvirtLeftovers(labId)).toEqual({ domains: [], networks: [], volumes: [] })
      expect(readdirSync(tmpdir()).filter((d) => d.startsWith(`${VAGRANT_DIR_PREFIX}-${labId}-`))).toEqual([])
    } finally {
      await owner.dispose()
    }
  }, 1_200_000)
})

describeWithEngine('vagrant', skipReason, 'a libvirt domain KVM stops', () => {
  afterAll(() => forgetAccelDecisions())

  test('libvirt\'s word stops vagrant up at once and the lab comes up under TCG, with the reason in its facts', async () => {
    const paused: string[] = []
    // The decision says KVM; this machine need not have it: the "KVM" domains run under TCG as
    // well, and each is paused through libvirt as soon as it runs, as libvirt pauses a guest KVM
    // cannot run. The same lab must then come up again under TCG.
    const backend = createVagrantBackend({
      decideAccel: async () => ({ accel: 'kvm', why: 'test: KVM ran a test guest' }),
      libvirtDriver: () => 'qemu',
      onDomainRunning: ({ name, accel }) => {
        if (accel !== 'kvm') return
        const r = sh(`virsh -c qemu:///system suspend ${name}`)
        if (r.status !== 0) throw new Error(`virsh suspend ${name}: ${r.stderr}`)
        paused.push(name)
      },
    })
    const lab = await backend.provision(buildTopology())
    try {
      expect(paused.length).toBeGreaterThan(0)
      expect(lab.facts.accel).toBe('tcg')
      // libvirt's state and reason, read while vagrant waited, ended the attempt: not a timeout.
      expect(lab.facts.accelReason).toMatch(new RegExp(`^KVM failed to run the [\\d.]+ kernel: libvirt domain (${paused.join('|')}) is paused \\(user\\); using TCG$`))
      expect((await lab.host('host02').succeed('hostname')).trim()).toBe('host-02')
      const ping = parsePing((await lab.host('host01').exec('ping -c 2 -i 0.2 -W 2 192.168.21.12')).stdout)
      expect(ping.replies.map((r) => r.ttl)).toEqual([64, 64])
    } finally {
      await lab.destroy()
    }
    expect(libvirtLeftovers(lab.id)).toEqual({ domains: [], networks: [], volumes: [] })
  }, 1_800_000)
})

// The CI's Vagrant suite: one seed scenario, every step, through the real CLI.
describeWithEngine('vagrant', skipReason, 'a seed scenario on the vagrant backend', () => {
  test('namespace-routing passes on two Vagrant VMs, every planned step, and nothing of the lab is left', async () => {
    const [scenario] = selectScenarios(await loadScenarios(), ['namespace-routing'])
    const planned = planSteps(scenario!)
    const out = await mkdtemp(join(tmpdir(), 'labproof-vagrant-run-'))
    try {
      const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'labproof.js'), 'run', 'namespace-routing', '--backend', 'vagrant'], {
        cwd: REPO_ROOT, encoding: 'utf8', timeout: 600_000,
        env: { ...process.env, LABPROOF_OUTPUT_DIR: out, NO_COLOR: '1', FORCE_COLOR: '0', VAGRANT_CHECKPOINT_DISABLE: '1' },
      })
      expect(r.status, (r.stdout + r.stderr).slice(-3000)).toBe(0)
      // Every step the plan has, in the JUnit file, each passed: none skipped, none missing.
      const suites = parseJunit(await readFile(join(out, 'reports', 'junit.xml'), 'utf8'))
      const cases = suites.filter((s) => s.properties?.scenario === 'namespace-routing').flatMap((s) => s.cases)
      expect(cases.map((c) => c.name.replace(/:.*/, ''))).toEqual(planned.map((p) => `step ${p.number}`))
      expect(cases.filter((c) => c.outcome.status !== 'passed').map((c) => `${c.name}: ${c.outcome.status}`)).toEqual([])
      expect(sh('virsh -c qemu:///system list --all --name').stdout).not.toMatch(/labproof-/)
    } finally {
      await rm(out, { recursive: true, force: true })
    }
  }, 660_000)
})
