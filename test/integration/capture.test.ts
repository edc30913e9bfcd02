// Captures on a real lab: the pcap comes home complete, and no tcpdump outlives its step (a
// capture of one step) or its lab (the lab's kept captures, read by window), also when the step
// fails mid-capture or labproof is killed.
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { netnsBackend } from '../../harness/backends/netns/netns.ts'
import { CaptureSet } from '../../harness/capture/capture-set.ts'
import { openCaptures, withCaptures } from '../../harness/capture/evidence.ts'
import { matchPacket } from '../../harness/capture/pattern.ts'
import { readPcap } from '../../harness/capture/pcap.ts'
import { RunningCapture } from '../../harness/capture/tcpdump.ts'
import type { Host } from '../../harness/host.ts'
import type { Lab } from '../../harness/lab.ts'
import { runStep } from '../../harness/scenario/run-step.ts'
import type { RunStep } from '../../harness/scenario/schema.ts'
import { StepContext } from '../../harness/scenario/step-context.ts'
import { buildTopology } from '../../harness/topology.ts'
import { netnsNodePids } from '../helpers/leftovers.ts'

const root = process.getuid?.() === 0

/** tcpdump processes started for captures by the labproof process `owner` (the capture file
 *  names carry its pid). */
function tcpdumpsOf(owner: number): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
      if (cmd.startsWith('tcpdump\0') && cmd.includes(`/run/labproof-captures/${owner}-`)) found.push(Number(entry))
    } catch {
      // gone
    }
  }
  return found
}

describe.skipIf(!root)('captures (needs root)', () => {
  let lab: Lab
  beforeAll(async () => {
    lab = await netnsBackend.provision(buildTopology())
  })
  afterAll(async () => {
    await lab?.destroy()
  })

  test('a capture around a ping brings home every echo request and reply, attached as pcap', async () => {
    const ctx = new StepContext(lab, 10_000)
    const { evidence } = await withCaptures(ctx, [{ on: 'host02:ens33', filter: 'icmp' }], () => ctx.run('host01', 'ping -c 3 -i 0.2 192.168.21.12'))
    const packets = evidence.captures.get('host02:ens33')!.packets
    expect(packets.filter((p) => matchPacket(p, { icmp: 'echo-request', src: '192.168.21.11', ttl: 64 }))).toHaveLength(3)
    expect(packets.filter((p) => matchPacket(p, { icmp: 'echo-reply', dst: '192.168.21.11' }))).toHaveLength(3)
    const pcap = ctx.attachments.find((a) => a.fileExtension === 'pcap')!
    expect(pcap.contentType).toBe('application/vnd.tcpdump.pcap')
    expect((pcap.content as Buffer).readUInt32LE(0)).toBe(0xa1b2c3d4)
    expect(String(ctx.attachments.find((a) => a.name.endsWith('decoded'))!.content)).toMatch(/IP 192\.168\.21\.11 > 192\.168\.21\.12 ttl 64 ICMP echo request/)
    await expectTcpdumpGone(lab.host('host02'))
  })

  test('a step that fails mid-capture still stops tcpdump and keeps the packets', async () => {
    const ctx = new StepContext(lab, 10_000)
    await expect(withCaptures(ctx, [{ on: 'host01:ens33' }], async () => {
      await ctx.run('host01', 'ping -c 1 192.168.21.12')
      throw new Error('the step failed')
    })).rejects.toThrow('the step failed')
    expect(ctx.captured.get('host01:ens33')!.packets.length).toBeGreaterThan(0)
    expect((await lab.host('host01').exec('ls /run/labproof-captures')).stdout).toBe('')
    await expectTcpdumpGone(lab.host('host01'))
  })

  test('packets in the ring that tcpdump has not read yet when the step ends are kept', async () => {
    // What a busy machine does by chance, made certain: tcpdump does not run (stopped) while the
    // echoes go by, and runs again only once the step is being read. Reading (or interrupting)
    // it then lost what was still unread in its ring.
    const ctx = new StepContext(lab, 10_000)
    const window = await openCaptures(ctx, [{ on: 'host02:ens33', filter: 'icmp' }])
    const [pid] = tcpdumpsOf(process.pid)
    process.kill(pid!, 'SIGSTOP')
    await ctx.run('host01', 'ping -c 3 -i 0.01 192.168.21.12')
    const closing = window.close()
    process.kill(pid!, 'SIGCONT')
    const packets = (await closing).captures.get('host02:ens33')!.packets
    expect(packets.filter((p) => matchPacket(p, { icmp: 'echo-request', src: '192.168.21.11' }))).toHaveLength(3)
    expect(packets.filter((p) => matchPacket(p, { icmp: 'echo-reply', dst: '192.168.21.11' }))).toHaveLength(3)
    await expectTcpdumpGone(lab.host('host02'))
  })

  test('a capture on an interface that does not exist fails clearly', async () => {
    const ctx = new StepContext(lab, 10_000)
    await expect(withCaptures(ctx, [{ on: 'host01:nothere' }], async () => 0)).rejects.toThrow(/tcpdump did not start on host01:nothere: .*nothere/)
  })
})

describe.skipIf(!root)('captures kept for the lab, read by window (needs root)', () => {
  let lab: Lab
  let captures: CaptureSet
  beforeAll(async () => {
    lab = await netnsBackend.provision(buildTopology())
    captures = new CaptureSet(lab)
  })
  afterAll(async () => {
    await captures?.endAll()
    await lab?.destroy()
  })
  const step = () => new StepContext(lab, 10_000, { captures })
  const echoes = (ctx: StepContext, on: string) => ctx.captured.get(on)!.packets.filter((p) => matchPacket(p, { icmp: 'echo-request' })).length

  test('each step sees its own packets, through its own filter, from one tcpdump per filter', async () => {
    const first = step()
    await withCaptures(first, [{ on: 'host02:ens33', filter: 'icmp' }], () => first.run('host01', 'ping -c 2 -i 0.01 192.168.21.12'))
    const second = step()
    await withCaptures(second, [{ on: 'host02:ens33', filter: 'icmp' }], () => second.run('host01', 'ping -c 3 -i 0.01 192.168.21.12'))
    expect([echoes(first, 'host02:ens33'), echoes(second, 'host02:ens33')]).toEqual([2, 3])
    // The ARP of the first ping is in the capture, not in an icmp window.
    const arp = step()
    await withCaptures(arp, [{ on: 'host02:ens33', filter: 'arp' }], () => arp.run('host01', 'ip neigh flush dev ens33 && ping -c 1 192.168.21.12'))
    expect(arp.captured.get('host02:ens33')!.packets.every((p) => p.layers.some((l) => l.kind === 'arp'))).toBe(true)
    expect(arp.captured.get('host02:ens33')!.packets.length).toBeGreaterThan(0)
    expect(tcpdumpsOf(process.pid)).toHaveLength(2)
    const pcap = second.attachments.find((a) => a.fileExtension === 'pcap')!.content as Buffer
    expect(readPcap(pcap).packets).toHaveLength(6)
  })

  test('a window waits for packets tcpdump has not read yet', async () => {
    const ctx = step()
    const window = await captures.open([{ on: 'host02:ens33', filter: 'icmp' }])
    const [pid] = tcpdumpsOf(process.pid)
    process.kill(pid!, 'SIGSTOP')
    await ctx.run('host01', 'ping -c 3 -i 0.01 192.168.21.12')
    // Stopped, tcpdump has read none of the six: the window must not close before it has.
    const closing = window.close()
    process.kill(pid!, 'SIGCONT')
    const [cut] = await closing
    const packets = readPcap(cut!.pcap).packets
    expect(packets.filter((p) => matchPacket(p, { icmp: 'echo-request' }))).toHaveLength(3)
    expect(packets.filter((p) => matchPacket(p, { icmp: 'echo-reply' }))).toHaveLength(3)
  })

  test('a window with no packet is a pcap of the capture\'s link type', async () => {
    const empty = step()
    await withCaptures(empty, [{ on: 'host01:any', filter: 'udp port 9' }], async () => 0)
    const full = step()
    await withCaptures(full, [{ on: 'host01:any', filter: 'icmp' }], () => full.run('host01', 'ping -c 1 192.168.21.12'))
    const pcapOf = (ctx: StepContext) => readPcap(ctx.attachments.find((a) => a.fileExtension === 'pcap')!.content as Buffer)
    expect(pcapOf(empty).packets).toEqual([])
    expect(pcapOf(full).packets.length).toBeGreaterThan(0)
    expect(pcapOf(empty).linkType).toBe(pcapOf(full).linkType)
  })

  test('an interface deleted and made again is captured anew', async () => {
    await lab.host('host01').succeed('ip link add lpa type veth peer name lpb && ip addr add 10.99.0.1/24 dev lpa && ip link set lpa up && ip link set lpb up')
    const before = step()
    await withCaptures(before, [{ on: 'host01:lpb' }], () => before.run('host01', 'ping -c 1 -W 0.2 10.99.0.2'))
    await lab.host('host01').succeed('ip link del lpa && ip link add lpa type veth peer name lpb && ip addr add 10.99.0.1/24 dev lpa && ip link set lpa up && ip link set lpb up')
    const after = step()
    await withCaptures(after, [{ on: 'host01:lpb', filter: 'arp' }], () => after.run('host01', 'ping -c 1 -W 0.2 10.99.0.2'))
    expect(after.captured.get('host01:lpb')!.packets.length).toBeGreaterThan(0)
    await lab.host('host01').succeed('ip link del lpa')
  })

  test('a capture inside a namespace ends before a command that deletes the namespace', async () => {
    const host = lab.host('host01')
    await host.succeed('ip netns add lpns && ip link add lpc type veth peer name lpd netns lpns')
    const before = tcpdumpsOf(process.pid).length
    const seen = step()
    await withCaptures(seen, [{ on: 'host01/lpns:any' }], async () => 0)
    expect(tcpdumpsOf(process.pid)).toHaveLength(before + 1)
    await runStep({ on: 'host01', run: 'ip netns del lpns' } as RunStep, step())
    // Nothing held the namespace: its end took lpd's peer with it.
    await host.waitUntilSucceeds('! ip link show lpc', { timeoutMs: 5_000, intervalMs: 20 })
  })

  test('ending the captures leaves no tcpdump and no file', async () => {
    await captures.endAll()
    await expectTcpdumpGone(lab.host('host02'))
    expect((await lab.host('host02').exec('ls /run/labproof-captures')).stdout).toBe('')
  })

  test('a window\'s captures on one host start in one request, are marked in one and cut in one', async () => {
    const host = lab.host('host01')
    const exec = host.exec
    const sent: string[] = []
    host.exec = (cmd, opts) => {
      sent.push(cmd.split('\n')[0]!)
      return exec.call(host, cmd, opts)
    }
    const specs = [{ on: 'host01:any', filter: 'icmp' }, { on: 'host01:ens33', filter: 'icmp' }]
    try {
      await withCaptures(step(), specs, async () => 0)
      const ctx = step()
      await withCaptures(ctx, specs, () => ctx.run('host01', 'ping -c 2 -i 0.01 192.168.21.12'))
      expect(sent.filter((l) => l.startsWith('# labproof capture'))).toEqual([
        '# labproof capture start (2)', '# labproof capture cut (2)', '# labproof capture mark (2)', '# labproof capture cut (2)',
      ])
      expect([echoes(ctx, 'host01:any'), echoes(ctx, 'host01:ens33')]).toEqual([2, 2])
    } finally {
      host.exec = exec
      await captures.endAll()
    }
  })
})

describe.skipIf(!root)('kept captures made through the filter their windows read (needs root)', () => {
  let lab: Lab
  let captures: CaptureSet
  beforeAll(async () => {
    lab = await netnsBackend.provision(buildTopology())
    captures = new CaptureSet(lab)
  })
  afterAll(async () => {
    await captures?.endAll()
    await lab?.destroy()
  })
  const step = () => new StepContext(lab, 10_000, { captures })
  const pcapOf = (ctx: StepContext) => readPcap(ctx.attachments.find((a) => a.fileExtension === 'pcap')!.content as Buffer).packets

  test('each window holds its own packets, through its filter, with no reading back', async () => {
    const first = step()
    await withCaptures(first, [{ on: 'host02:ens33', filter: 'icmp' }], () => first.run('host01', 'ip neigh flush dev ens33 && ping -c 2 -i 0.01 192.168.21.12'))
    const second = step()
    await withCaptures(second, [{ on: 'host02:ens33', filter: 'icmp' }], () => second.run('host01', 'ping -c 3 -i 0.01 192.168.21.12'))
    // The ARP exchange of the first ping is not there: tcpdump captured through the filter.
    expect(pcapOf(first)).toHaveLength(4)
    expect(pcapOf(second)).toHaveLength(6)
    expect(pcapOf(second).every((p) => matchPacket(p, { proto: 'icmp' }))).toBe(true)
    expect(tcpdumpsOf(process.pid)).toHaveLength(1)
    expect((await lab.host('host02').exec('ps -o args= -C tcpdump')).stdout).toMatch(/-w \S+ icmp$/m)
  })

  test('a window through another filter has a capture of its own, and the first runs on', async () => {
    const arp = step()
    await withCaptures(arp, [{ on: 'host02:ens33', filter: 'arp' }], () => arp.run('host01', 'ip neigh flush dev ens33 && ping -c 1 192.168.21.12'))
    const packets = arp.captured.get('host02:ens33')!.packets
    expect(packets.length).toBeGreaterThan(0)
    expect(packets.every((p) => p.layers.some((l) => l.kind === 'arp'))).toBe(true)
    expect((await lab.host('host02').exec('ps -o args= -C tcpdump')).stdout.trim().split('\n').map((l) => l.split(' ').at(-1)).sort()).toEqual(['arp', 'icmp'])
    const icmp = step()
    await withCaptures(icmp, [{ on: 'host02:ens33', filter: 'icmp' }], () => icmp.run('host01', 'ping -c 2 -i 0.01 192.168.21.12'))
    expect(pcapOf(icmp)).toHaveLength(4)
    expect(tcpdumpsOf(process.pid)).toHaveLength(2)
  })

  test('a capture started ahead of its step holds, in the window, only what the step did', async () => {
    captures.prestart([{ on: 'host01:any', filter: 'icmp' }, { on: 'host01/nosuchns:any', filter: 'icmp' }])
    await lab.host('host01').succeed('ping -c 2 -i 0.01 192.168.21.12')
    const ctx = step()
    await withCaptures(ctx, [{ on: 'host01:any', filter: 'icmp' }], () => ctx.run('host01', 'ping -c 3 -i 0.01 192.168.21.12'))
    expect(ctx.captured.get('host01:any')!.packets).toHaveLength(6)
    // A start ahead that failed is tried again by the window, which tells why it fails.
    await expect(withCaptures(step(), [{ on: 'host01/nosuchns:any' }], async () => 0)).rejects.toThrow(/tcpdump did not start on host01\/nosuchns:any: .*nosuchns/s)
  })

  test('a veth is captured without promiscuous mode, and ahead of its step; a bridge promiscuous, only by its window', async () => {
    const host = lab.host('host01')
    await host.succeed('ip link add lpbr type bridge && ip link set lpbr up')
    // tcpdump's promiscuous mode is a count of the interface's (`ip -d link`), not its PROMISC flag.
    const promiscuous = async (dev: string) => !/ promiscuity 0 /.test(await host.succeed(`ip -d link show dev ${dev}`))
    try {
      captures.prestart([{ on: 'host01:ens33', filter: 'icmp' }, { on: 'host01:lpbr', filter: 'icmp' }], 1)
      const ahead = step()
      await withCaptures(ahead, [{ on: 'host01:ens33', filter: 'icmp' }], () => ahead.run('host01', 'ping -c 2 -i 0.01 192.168.21.12'))
      expect(pcapOf(ahead)).toHaveLength(4)
      expect(await promiscuous('ens33')).toBe(false)
      const args = (await host.exec('ps -o args= -C tcpdump')).stdout
      expect(args).toMatch(/^tcpdump -p .* -i ens33 /m)
      expect(args).not.toMatch(/-i lpbr/)
      const bridge = step()
      await withCaptures(bridge, [{ on: 'host01:lpbr', filter: 'icmp' }], async () => 0)
      expect(await promiscuous('lpbr')).toBe(true)
    } finally {
      await captures.endAll()
      await host.succeed('ip link del lpbr')
    }
  })
})

describe.skipIf(!root)('captures started in one request (needs root)', () => {
  let lab: Lab
  beforeAll(async () => {
    lab = await netnsBackend.provision(buildTopology())
  })
  afterAll(async () => {
    await lab?.destroy()
  })

  test('one that never listens fails alone, named, and is ended; the others of its request run on', async () => {
    const host = lab.host('host01')
    // In this host only (its own root overlay): a tcpdump that never listens on lphang.
    await host.succeed(`mkdir -p /usr/local/sbin && printf '%s\\n' '#!/bin/sh' 'case " $* " in *" -i lphang "*) exec sleep 600;; esac' 'exec /usr/bin/tcpdump "$@"' > /usr/local/sbin/tcpdump && chmod +x /usr/local/sbin/tcpdump`)
    try {
      const [good, hung] = await Promise.allSettled([RunningCapture.start(lab, { on: 'host01:ens33', filter: 'icmp' }), RunningCapture.start(lab, { on: 'host01:lphang' })])
      expect(hung.status).toBe('rejected')
      expect(String((hung as PromiseRejectedResult).reason)).toMatch(/tcpdump did not start on host01:lphang: it was not listening within 5 s/)
      expect(good.status).toBe('fulfilled')
      const capture = (good as PromiseFulfilledResult<RunningCapture>).value
      const from = (await capture.mark()).offset
      await host.succeed('ping -c 2 -i 0.01 192.168.21.12')
      const cut = await capture.cut(from)
      expect(cut.end.running).toBe(true)
      expect(readPcap(cut.pcap).packets.filter((p) => matchPacket(p, { icmp: 'echo-request' }))).toHaveLength(2)
      await host.waitUntilSucceeds("! pgrep -f 'sleep 600'", { timeoutMs: 5_000, intervalMs: 50 })
      await capture.discard()
    } finally {
      await host.succeed('rm -f /usr/local/sbin/tcpdump')
    }
  }, 30_000)
})

describe.skipIf(!root)('a run killed in the middle of a capture (needs root)', () => {
  test('leaves no tcpdump and no host behind', async () => {
    const script = `
      import { netnsBackend } from ${JSON.stringify(new URL('../../harness/backends/netns/netns.ts', import.meta.url).pathname)}
      import { buildTopology } from ${JSON.stringify(new URL('../../harness/topology.ts', import.meta.url).pathname)}
      import { RunningCapture } from ${JSON.stringify(new URL('../../harness/capture/tcpdump.ts', import.meta.url).pathname)}
      const lab = await netnsBackend.provision(buildTopology())
      await RunningCapture.start(lab, { on: 'host01:ens33' })
      const pid = (await lab.host('host01').succeed('pgrep -x tcpdump')).trim()
      console.log(lab.id + ' ' + pid)
      setInterval(() => {}, 1000)
    `
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    const [labId] = await new Promise<string[]>((resolve) => child.stdout.once('data', (d) => resolve(String(d).trim().split(' '))))
    const before = netnsNodePids({ labId })
    expect(before.length).toBeGreaterThanOrEqual(4)
    const tcpdumpsBefore = tcpdumpsOf(child.pid!)
    expect(tcpdumpsBefore).toHaveLength(1)
    child.kill('SIGKILL')
    const deadline = Date.now() + 5000
    while ((netnsNodePids({ labId }).length > 0 || tcpdumpsBefore.some(alive)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(netnsNodePids({ labId })).toEqual([])
    expect(tcpdumpsBefore.filter(alive)).toEqual([])
  })
})

/** A capture of one step ends when its window is read; its exit follows moments later (the
 *  kernel closing its packet socket), and must. */
async function expectTcpdumpGone(host: Host): Promise<void> {
  await host.waitUntilSucceeds('! pgrep -x tcpdump', { timeoutMs: 2_000, intervalMs: 20 })
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
