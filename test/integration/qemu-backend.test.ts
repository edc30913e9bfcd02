// The qemu backend: two VMs booting Debian bookworm's cloud kernel (6.1), on the netns
// gateway and internet. What this machine's kernel cannot do (ipip) runs here, for real.
// Also: a guest KVM stops is noticed from qemu and the lab comes up under TCG with the reason;
// labs after the first start from the saved pair and see nothing a previous lab left; a killed
// run's saved states and VMs are gone. Slow: the first run builds the VM image, and the pair
// is booted under TCG once per process.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, existsSync, truncateSync } from 'node:fs'
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { netnsBackend } from '../../harness/backends/netns/netns.ts'
import { createQemuBackend, QEMU_MARKER, qemuBackend, reapQemuLeftovers } from '../../harness/backends/qemu/qemu.ts'
import { emptySavedCache, SavedStates } from '../../harness/backends/qemu/vm-saved-states.ts'
import { forgetAccelDecisions } from '../../harness/backends/shared/vm-accel.ts'
import { ensureVmImage } from '../../harness/backends/shared/vm-image.ts'
import { outerIpv4, innermostIpv4, readPcapFile } from '../../harness/capture/pcap.ts'
import type { Lab } from '../../harness/lab.ts'
import { currentOwner, ownerTag, processStartTime, type Owner } from '../../harness/ownership/owner.ts'
import { parsePing } from '../../harness/parse/ping.ts'
import { deadOwner } from '../helpers/owner-process.ts'
import { buildTopology } from '../../harness/topology.ts'
import { describeWithEngine } from '../helpers/engines.ts'
import { startOwnerProcess } from '../helpers/owner-process.ts'
import { stopWatching, watchRealInterfaces, type NicWatcher } from '../helpers/real-nic-watch.ts'
import { waitUntil } from '../helpers/wait.ts'

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0
const skipReason = process.getuid?.() !== 0 ? 'needs root (taps, namespaces, debootstrap)'
  : !has('qemu-system-x86_64') || !has('qemu-img') ? 'needs qemu-system-x86_64 and qemu-img (apt-get install qemu-system-x86 qemu-utils)'
    : !has('debootstrap') || !has('mkfs.ext4') ? 'needs debootstrap and e2fsprogs to build the VM image'
      : !existsSync('/dev/net/tun') ? 'needs /dev/net/tun for the VMs\' underlay taps' : undefined

// Every packet a lab could send carries one of these; none may show on the machine's own NICs.
const LAB_TRAFFIC = 'net 192.168.21.0/24 or host 8.8.8.8 or net 100.64.0.0/30 or net 1.2.3.0/24 or net 1.2.4.0/24 or ip proto 4'

// Saves kept across runs go to a cache of this file's own: its first lab boots, whatever
// earlier runs on this machine kept, and nothing of it stays.
const savedCache = mkdtempSync(join(tmpdir(), 'labproof-qemu-test-saved-'))
process.env.LABPROOF_QEMU_SAVED_CACHE = savedCache
afterAll(async () => {
  await rm(savedCache, { recursive: true, force: true })
})

function qemuPids(labId: string): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((a) => a.startsWith(`${QEMU_MARKER}:${labId}:`))
    } catch {
      return false
    }
  }).map(Number)
}

describeWithEngine('qemu', skipReason, 'qemu backend, kernel 6.1', () => {
  let lab: Lab
  let provisionMs: number
  let baseBefore: { mtimeMs: number; size: number }
  let dir: string
  let watchers: NicWatcher[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'labproof-qemu-test-'))
    // Watch the real NICs from before the VMs exist until they are gone.
    watchers = await watchRealInterfaces(dir, LAB_TRAFFIC)
    const image = await ensureVmImage('6.1') // built here on a first run, outside the provision timing
    baseBefore = await stat(image.rootfs)
    const t0 = performance.now()
    lab = await qemuBackend.provision(buildTopology(), { kernel: '6.1' })
    provisionMs = performance.now() - t0
    console.log(`qemu backend: provisioned in ${Math.round(provisionMs)} ms; facts ${JSON.stringify(lab.facts)}`)
  }, 900_000)

  afterAll(async () => {
    await lab?.destroy()
    for (const w of watchers) w.child.kill('SIGKILL')
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('boots kernel 6.1 (Debian cloud) and reports kernel, accel and boot time', async () => {
    expect(lab.facts.kernel).toMatch(/^6\.1\.\d+-\d+-cloud-amd64$/)
    expect(['kvm', 'tcg']).toContain(lab.facts.accel)
    expect(lab.facts.bootMs).toMatch(/^host01 \d+, host02 \d+$/)
    expect((await lab.host('host01').succeed('uname -r')).trim()).toBe(lab.facts.kernel)
    expect((await lab.host('host02').succeed('uname -r')).trim()).toBe(lab.facts.kernel)
  })

  test('hosts are host-01 and host-02, with ens33 on the underlay and a default route via the gateway', async () => {
    expect((await lab.host('host01').succeed('hostname')).trim()).toBe('host-01')
    expect((await lab.host('host02').succeed('hostname')).trim()).toBe('host-02')
    // Its own name from its files, as a Debian install has it (sudo would wait for DNS).
    expect((await lab.host('host01').succeed('getent -s files hosts host-01')).split(/\s+/)[0]).toBe('127.0.1.1')
    const addr = JSON.parse(await lab.host('host01').succeed('ip -j addr show dev ens33'))[0]
    expect(addr.addr_info.find((a: { family: string }) => a.family === 'inet')).toMatchObject({ local: '192.168.21.11', prefixlen: 24 })
    expect(await lab.host('host01').succeed('ip route show default')).toMatch(/^default via 192\.168\.21\.1 dev ens33 *\n$/)
  })

  test('the management NIC is invisible to the lab: only lo and ens33, no route to slirp', async () => {
    const links = JSON.parse(await lab.host('host01').succeed('ip -j link show')) as Array<{ ifname: string }>
    expect(links.map((l) => l.ifname).filter((n) => !/^(tunl0|gre0|gretap0|erspan0|sit0|ip_vti0|dummy0)$/.test(n))).toEqual(['lo', 'ens33'])
    expect(await lab.host('host01').succeed('ip -4 route show')).not.toMatch(/10\.0\.2\./)
  })

  test('host01 reaches host02 (ttl 64) and 8.8.8.8 through the gateway (ttl 63)', async () => {
    const h = parsePing((await lab.host('host01').exec('ping -c 2 -i 0.2 -W 2 192.168.21.12')).stdout)
    expect(h.replies.map((r) => r.ttl)).toEqual([64, 64])
    const i = parsePing((await lab.host('host01').exec('ping -c 2 -i 0.2 -W 2 8.8.8.8')).stdout)
    expect(i.replies.map((r) => r.ttl)).toEqual([63, 63])
  })

  test('the capability probe finds ipip in the VM, which this machine\'s kernel (netns) lacks', async (ctx) => {
    const vm = await lab.host('host01').capabilities()
    expect(vm.kernelRelease).toBe(lab.facts.kernel)
    expect(vm.features.ipip).toBe(true)
    const local = await netnsBackend.provision(buildTopology())
    try {
      const netnsIpip = (await local.host('host01').capabilities()).features.ipip
      if (netnsIpip === true) ctx.skip('this machine\'s kernel has ipip too: nothing to contrast')
      expect(netnsIpip).toMatch(/./) // the reason the kernel gave
    } finally {
      await local.destroy()
    }
  })

  test('a real cross-host ipip tunnel (doc 003): ping 1.2.4.100 ttl 64, IP-in-IP on the underlay', async () => {
    const [h1, h2] = [lab.host('host01'), lab.host('host02')]
    await h1.succeed([
      'ip tunnel add tunnel1 mode ipip remote 192.168.21.12 local 192.168.21.11',
      'ip addr add 1.2.3.100/24 dev tunnel1', 'ip link set tunnel1 up', 'ip route add 1.2.4.0/24 dev tunnel1',
    ].join(' && '))
    await h2.succeed([
      'ip tunnel add tunnel1 mode ipip remote 192.168.21.11 local 192.168.21.12',
      'ip addr add 1.2.4.100/24 dev tunnel1', 'ip link set tunnel1 up', 'ip route add 1.2.3.0/24 dev tunnel1',
    ].join(' && '))
    // Capture on host02's underlay while host01 pings through the tunnel; the pcap comes home over
    // SFTP. The ping starts once tcpdump says it listens (its socket is bound by then).
    // Bounds for a TCG guest on a loaded machine (seen: 10 s not enough at load 37); the wait
    // ends as soon as tcpdump's line is there.
    const capture = h2.exec('timeout 60 tcpdump -i ens33 -nn -U -c 4 -w /tmp/ipip.pcap ip proto 4 2>/tmp/ipip.log', { timeoutMs: 70_000 })
    await h2.waitUntilSucceeds('grep -q "listening on" /tmp/ipip.log', { timeoutMs: 45_000 })
    const ping = parsePing((await h1.exec('ping -c 2 -i 0.2 -W 2 1.2.4.100')).stdout)
    expect(ping.replies.map((r) => r.ttl)).toEqual([64, 64])
    expect((await capture).exitCode).toBe(0)
    const local = join(dir, 'ipip.pcap')
    await h2.copyFrom('/tmp/ipip.pcap', local)
    const pcap = await readPcapFile(local)
    expect(pcap.packets.length).toBe(4)
    for (const p of pcap.packets) {
      expect(outerIpv4(p)).toMatchObject({ protocol: 4 })
      expect([outerIpv4(p)!.src, outerIpv4(p)!.dst].sort()).toEqual(['192.168.21.11', '192.168.21.12'])
      expect([innermostIpv4(p)!.src, innermostIpv4(p)!.dst].sort()).toEqual(['1.2.3.100', '1.2.4.100'])
    }
  })

  test('a timed-out command in a VM is killed with its children', async () => {
    const r = await lab.host('host02').exec('sleep 77.5 & sleep 77.5', { timeoutMs: 1_000 })
    expect(r).toMatchObject({ exitCode: 124, timedOut: true })
    expect((await lab.host('host02').exec(`ps -eo args | grep -c '^sleep 77.5$'`)).stdout.trim()).toBe('0')
  })

  test('destroy leaves nothing: no qemu, no overlay, no tap, and the base image is untouched', async () => {
    const pids = qemuPids(lab.id)
    expect(pids).toHaveLength(2)
    const overlays = readdirSync(tmpdir()).filter((d) => d.startsWith(`${QEMU_MARKER}-${lab.id}-${ownerTag()}-`))
    expect(overlays).toHaveLength(1)
    await lab.destroy()
    expect(qemuPids(lab.id)).toEqual([])
    expect(existsSync(join(tmpdir(), overlays[0]!))).toBe(false)
    expect(readdirSync('/sys/class/net').filter((n) => n.startsWith(`lq${lab.id.slice(-8)}`))).toEqual([])
    const image = await ensureVmImage('6.1')
    const after = await stat(image.rootfs)
    expect({ mtimeMs: after.mtimeMs, size: after.size }).toEqual({ mtimeMs: baseBefore.mtimeMs, size: baseBefore.size })
  })

  test('no lab packet appeared on the machine\'s real interfaces', async () => {
    expect(watchers.length).toBeGreaterThan(0)
    for (const { iface, capture } of await stopWatching(watchers)) {
      expect(capture.packets.length, `lab packets seen on ${iface}`).toBe(0)
    }
  })
})

describeWithEngine('qemu', skipReason, 'a guest KVM stops', () => {
  afterAll(() => forgetAccelDecisions())

  test('qemu\'s word is noticed at once and the lab comes up under TCG, with the reason in its facts', async () => {
    const paused: string[] = []
    // The decision says KVM; this machine need not have it: the "KVM" guest runs under TCG and is
    // paused through QMP as soon as it starts, as qemu pauses a guest KVM cannot run.
    const backend = createQemuBackend({
      decideAccel: async () => ({ accel: 'kvm', why: 'test: KVM ran a test guest', unproven: true }),
      qemuAccel: (accel) => (accel === 'kvm' ? 'tcg,thread=single' : 'tcg'),
      onVmStarted: async ({ name, accel, qmp }) => {
        if (accel !== 'kvm') return
        await qmp.execute('stop')
        paused.push(name)
      },
    })
    const lab = await backend.provision(buildTopology(), { kernel: '6.1' })
    try {
      expect(paused.sort()).toEqual(['host01', 'host02'])
      expect(lab.facts.accel).toBe('tcg')
      // The status qemu reported, not a timeout, ended the wait.
      expect(lab.facts.accelReason).toBe('KVM failed to run the 6.1 kernel: the guest stopped (qemu status "paused"); using TCG')
      expect((await lab.host('host02').succeed('hostname')).trim()).toBe('host-02')
      const ping = parsePing((await lab.host('host01').exec('ping -c 2 -i 0.2 -W 2 192.168.21.12')).stdout)
      expect(ping.replies.map((r) => r.ttl)).toEqual([64, 64])
    } finally {
      await lab.destroy()
    }
  }, 900_000)
})

describeWithEngine('qemu', skipReason, 'what labproof clean takes of the qemu backend\'s', () => {

  test('a dead owner\'s VMs and dirs go, named by PID and start time or (older names) by PID; a live owner\'s stay', async () => {
    const dead = await deadOwner()
    const reused: Owner = { pid: process.pid, started: currentOwner().started! - 1 } // this PID, another process's start
    const dir = (what: string, owner: string) => join(tmpdir(), `${QEMU_MARKER}-${what}-${owner}-planted`)
    const gone = [dir('lpreapold', String(dead.pid)), dir('lpreapnew', ownerTag(dead)), dir('lpreapreused', ownerTag(reused)), dir('saved', ownerTag(dead))]
    const kept = dir('lpreaplive', ownerTag())
    for (const d of [...gone, kept]) await mkdir(d, { recursive: true })
    // VMs as the reaper finds them: by the marker on the command line.
    const fakeVm = (labId: string, owner: string) => spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', `${QEMU_MARKER}:${labId}:${owner}:host01`], { stdio: 'ignore' })
    const deadVm = fakeVm('lpreapvm', ownerTag(dead))
    const liveVm = fakeVm('lpreaplivevm', ownerTag())
    const deadVmEnd = new Promise((r) => deadVm.once('exit', (_code, signal) => r(signal)))
    try {
      await waitUntil('the planted VMs to run', () => qemuPids('lpreapvm').length === 1 && qemuPids('lpreaplivevm').length === 1)
      // (Another labproof process on this machine may sweep the dead owner's first: the state is checked.)
      await reapQemuLeftovers()
      expect(await deadVmEnd).toBe('SIGKILL')
      expect(gone.filter((d) => existsSync(d))).toEqual([])
      expect(existsSync(kept)).toBe(true)
      expect(qemuPids('lpreaplivevm')).toEqual([liveVm.pid])
    } finally {
      deadVm.kill('SIGKILL')
      liveVm.kill('SIGKILL')
      await rm(kept, { recursive: true, force: true })
    }
  })
})

describeWithEngine('qemu', skipReason, 'labs after the first start from the saved pair', () => {
  test('a restored lab sees no file, link or address a previous lab left, and works, with its own interface and host names', async () => {
    const first = await qemuBackend.provision(buildTopology(), { kernel: '6.1' })
    let second: Lab | undefined
    try {
      expect(first.facts.start).toMatch(/restored from the pair lab lp\w+ booted/)
      const h1 = first.host('host01')
      await h1.succeed('echo left > /root/leftover && echo left > /tmp/leftover && ip link add leftover0 type veth peer name leftover1 && ip netns add leftovers && ip addr add 10.99.0.1/24 dev ens33')
      expect((await h1.succeed('ls /root /tmp')).split(/\s+/)).toContain('leftover')
      await first.destroy()
      // Another underlay interface name and host name (as k8s-linux-networking has): renamed
      // after the restore, not a boot of its own.
      second = await qemuBackend.provision(buildTopology({ interface: 'ens160', hosts: { host01: { hostname: 'lab-node-1' } } }), { kernel: '6.1' })
      expect(second.facts.start).toMatch(/^restored from the pair lab lp\w+ booted/)
      const h = second.host('host01')
      expect((await h.succeed('hostname; cat /etc/hostname')).split('\n').slice(0, 2)).toEqual(['lab-node-1', 'lab-node-1'])
      expect((await h.succeed('getent -s files hosts lab-node-1')).split(/\s+/)[0]).toBe('127.0.1.1')
      expect((await h.exec('getent -s files hosts host-01')).exitCode).not.toBe(0)
      expect((await second.host('host02').succeed('hostname')).trim()).toBe('host-02')
      expect((await h.succeed('ip -br link')).split('\n').map((l) => l.split(/\s+/)[0])).toContain('ens160')
      expect((await h.exec('ip link show dev ens33')).exitCode).not.toBe(0)
      expect((await h.exec('ls -A /root /tmp')).stdout).not.toMatch(/leftover/)
      expect((await h.exec('ip -br link')).stdout).not.toMatch(/leftover/)
      expect((await h.exec('ip netns list')).stdout.trim()).toBe('')
      expect(await h.succeed('ip -4 -br addr show dev ens160')).not.toMatch(/10\.99\.0\.1/)
      // The restored guest's clock is this machine's, not the save's.
      expect(Math.abs(Number((await h.succeed('date +%s')).trim()) - Date.now() / 1000)).toBeLessThan(120)
      const ping = parsePing((await h.exec('ping -c 2 -i 0.2 -W 2 8.8.8.8')).stdout)
      expect(ping.replies.map((r) => r.ttl)).toEqual([63, 63])
      const restoring = qemuPids(second.id).map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'))
      expect(restoring).toHaveLength(2)
      for (const argv of restoring) expect(argv[argv.indexOf('-incoming') + 1]).toMatch(/^exec:cat .*\.state'?$/)
    } finally {
      await first.destroy()
      await second?.destroy()
    }
  }, 900_000)

  test('a SIGKILLed run leaves no VM and no saved state; labproof clean removes its overlays', async () => {
    // Saves for the run only: the owner boots and saves a pair of its own, in its run's directory.
    process.env.LABPROOF_QEMU_SAVED_CACHE = 'off'
    const owner = await startOwnerProcess({ module: 'harness/backends/qemu/qemu.ts', backend: 'qemuBackend', options: { kernel: '6.1' } }).finally(() => {
      process.env.LABPROOF_QEMU_SAVED_CACHE = savedCache
    })
    try {
      const { labId } = owner
      const ownedBy = ownerTag({ pid: owner.pid, started: processStartTime(owner.pid) })
      const savedDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith(`${QEMU_MARKER}-saved-${ownedBy}-`))
      expect(savedDirs()).toHaveLength(1)
      expect(qemuPids(labId)).toHaveLength(2)
      owner.child.kill('SIGKILL')
      expect(await owner.exited).toBe('SIGKILL')
      // The VMs die with their owner (pdeathsig); the saved states' remover sees the owner's pipe close.
      await waitUntil(`lab ${labId}'s VMs and the run's saved states to go with their owner`, () => qemuPids(labId).length === 0 && savedDirs().length === 0)
      const removed = await reapQemuLeftovers()
      if (!removed.some((r) => r.includes(labId))) console.log(`qemu backend: lab ${labId} was swept by another labproof process`)
      expect(readdirSync(tmpdir()).filter((d) => d.startsWith(`${QEMU_MARKER}-${labId}-`))).toEqual([])
    } finally {
      await owner.dispose()
    }
  }, 900_000)
})

describeWithEngine('qemu', skipReason, 'saves kept across runs', () => {
  test('a later run restores its first lab from the kept save; one that will not restore is made again; labproof clean empties them', async () => {
    const entries = () => readdirSync(savedCache).filter((n) => !n.startsWith('.'))
    // The first lab of this file booted and kept its save (the KVM test's pair, under another
    // -accel, is another entry). Last in the file: it empties the cache the others restore from.
    const laterRun = () => createQemuBackend({ savedStates: new SavedStates(QEMU_MARKER) })
    const lab = await laterRun().provision(buildTopology(), { kernel: '6.1' })
    let kept: string
    try {
      expect(lab.facts.start).toMatch(/^restored from the pair lab lp\w+ booted \([\d.]+ s; saved by an earlier run \d{4}-\d\d-\d\d \d\d:\d\d UTC\)$/)
      expect((await lab.host('host02').succeed('hostname')).trim()).toBe('host-02')
      kept = entries().find((n) => readFileSync(join(savedCache, n, 'pair.json'), 'utf8').includes(`"fromLab":"${/lab (lp\w+)/.exec(lab.facts.start!)![1]}"`))!
      expect(readdirSync(join(savedCache, kept)).sort()).toEqual(['host01.qcow2', 'host01.state', 'host02.qcow2', 'host02.state', 'pair.json'])
    } finally {
      await lab.destroy()
    }
    // A save that will not restore (here: its states cut short) is removed, and the lab boots and saves anew.
    for (const h of ['host01', 'host02']) truncateSync(join(savedCache, kept, `${h}.state`), 4096)
    const again = await laterRun().provision(buildTopology(), { kernel: '6.1' })
    try {
      expect(again.facts.start).toMatch(/^booted \([\d.]+ s\), saved, and restored from the pair lab lp\w+ booted/)
      expect((await again.host('host01').succeed('hostname')).trim()).toBe('host-01')
    } finally {
      await again.destroy()
    }
    const remade = JSON.parse(readFileSync(join(savedCache, kept, 'pair.json'), 'utf8')) as { fromLab: string }
    expect(remade.fromLab).toBe(again.id)
    // labproof clean: every kept save goes, and a partial one of a run that is gone; a live run's partial one stays.
    const dead = await deadOwner()
    await mkdir(join(savedCache, `.partial-${ownerTag(dead)}-planted`))
    await mkdir(join(savedCache, `.partial-${ownerTag()}-planted`))
    const before = entries()
    const removed = await emptySavedCache(savedCache)
    expect(removed.sort()).toEqual([`a partial VM save (${join(savedCache, `.partial-${ownerTag(dead)}-planted`)})`, ...before.map((n) => `saved VM pair (${join(savedCache, n)})`)].sort())
    expect(readdirSync(savedCache)).toEqual([`.partial-${ownerTag()}-planted`])
  }, 900_000)
})
