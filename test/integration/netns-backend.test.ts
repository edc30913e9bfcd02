// The embedded backend on this machine's kernel: the topology every scenario relies on.
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { netnsBackend } from '../../harness/backends/netns/netns.ts'
import type { Lab } from '../../harness/lab.ts'
import { buildTopology } from '../../harness/topology.ts'
import { parsePing } from '../../harness/parse/ping.ts'
import { parseProbe, probeScript } from '../../harness/capabilities.ts'
import { SHELL_DIR } from '../../harness/shell-server.ts'
import { netnsNodePids, processes } from '../helpers/leftovers.ts'

const root = process.getuid?.() === 0

describe.skipIf(!root)('netns backend (needs root)', () => {
  let lab: Lab

  beforeAll(async () => {
    lab = await netnsBackend.provision(buildTopology())
  })

  afterAll(async () => {
    await lab?.destroy()
  })

  // How long provisioning takes is the benchmark's to measure (npm run bench), not a test's.
  test('provisions two hosts, a gateway and an internet host', () => {
    expect([...lab.hosts.keys()]).toEqual(['host01', 'host02', 'gateway', 'internet'])
  })

  test('hosts are named host-01 and host-02, with ens33 on the underlay and a default route via the gateway', async () => {
    expect((await lab.host('host01').succeed('hostname')).trim()).toBe('host-01')
    expect((await lab.host('host02').succeed('hostname')).trim()).toBe('host-02')
    const addr = JSON.parse(await lab.host('host02').succeed('ip -j addr show dev ens33'))[0]
    expect(addr.addr_info.find((a: { family: string }) => a.family === 'inet')).toMatchObject({ local: '192.168.21.12', prefixlen: 24 })
    expect(await lab.host('host01').succeed('ip route show default')).toMatch(/^default via 192\.168\.21\.1 dev ens33/)
  })

  test('a host resolves its own name from /etc/hosts, as a real host does (sudo does not wait for DNS)', async () => {
    expect((await lab.host('host01').succeed('getent hosts host-01')).trim()).toMatch(/^127\.0\.1\.1\s+host-01$/)
    expect(await lab.host('host02').exec('grep -w host-01 /etc/hosts')).toMatchObject({ exitCode: 1 })
    const sudo = await lab.host('host02').exec('sudo true')
    expect(sudo).toMatchObject({ exitCode: 0, stderr: '' })
    expect(sudo.ms).toBeLessThan(2000)
    expect(await readFile('/etc/hosts', 'utf8')).not.toMatch(/host-0[12]/)
  })

  test('a fresh host does not forward', async () => {
    expect((await lab.host('host01').succeed('cat /proc/sys/net/ipv4/ip_forward')).trim()).toBe('0')
  })

  test('host01 reaches host02 across the underlay segment (ttl 64) and 8.8.8.8 through the gateway (ttl 63)', async () => {
    const h = parsePing((await lab.host('host01').exec('ping -c 2 -i 0.2 -W 1 192.168.21.12')).stdout)
    expect(h.replies.map((r) => r.ttl)).toEqual([64, 64])
    const i = parsePing((await lab.host('host01').exec('ping -c 2 -i 0.2 -W 1 8.8.8.8')).stdout)
    expect(i.replies.map((r) => r.ttl)).toEqual([63, 63])
  })

  test('the gateway has no route back to a private subnet: a private source gets no reply', async () => {
    const h = lab.host('host01')
    await h.succeed('ip netns add priv && ip link add p0 type veth peer name p1 && ip link set p1 netns priv && ip addr add 10.99.0.1/24 dev p0 && ip link set p0 up && ip netns exec priv ip addr add 10.99.0.2/24 dev p1 && ip netns exec priv ip link set p1 up && ip netns exec priv ip route add default via 10.99.0.1 && sysctl -qw net.ipv4.ip_forward=1')
    const before = parsePing((await h.exec('ping -c 2 -i 0.2 -W 1 8.8.8.8', { netns: 'priv' })).stdout)
    expect(before.received).toBe(0)
    await h.succeed('iptables -t nat -A POSTROUTING -s 10.99.0.0/24 -j MASQUERADE')
    const after = parsePing((await h.exec('ping -c 2 -i 0.2 -W 1 8.8.8.8', { netns: 'priv' })).stdout)
    expect(after.replies.map((r) => r.ttl)).toEqual([62, 62])
  })

  test('ip netns add in one host is not visible in the other', async () => {
    await lab.host('host01').succeed('ip netns add ns1')
    expect((await lab.host('host01').succeed('ip netns list')).trim()).toMatch(/ns1/)
    expect((await lab.host('host02').succeed('ip netns list')).trim()).not.toMatch(/ns1/)
    await lab.host('host02').succeed('ip netns add ns1')
  })

  test('exec in a namespace of the host, with stdin', async () => {
    const r = await lab.host('host01').exec('cat; ip -br link show lo', { netns: 'ns1', input: 'hello\n' })
    expect(r.stdout).toMatch(/^hello\nlo +DOWN/)
  })

  test('a command past its timeout is killed with its children and reported as timed out', async () => {
    // A duration no other sleep has, so the host's process list shows exactly these two.
    const seconds = `300.${randomBytes(3).readUIntBE(0, 3)}`
    const r = await lab.host('host01').exec(`sleep ${seconds} & sleep ${seconds}; echo never`, { timeoutMs: 300 })
    expect(r.timedOut).toBe(true)
    expect(r.exitCode).toBe(124)
    expect(r.stdout).not.toContain('never')
    const args = (await lab.host('host01').succeed('ps -eo args')).split('\n')
    expect(args).toContain('ps -eo args') // the list is this host's, and read by args
    expect(args.filter((a) => a === `sleep ${seconds}`)).toEqual([])
  })

  test("commands run side by side on one host, each with its own output and status (the host's shell serves them all)", async () => {
    const h = lab.host('host02')
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => h.exec(`sleep 0.${i % 3}; echo out${i}; echo err${i} >&2; exit ${i}`)))
    expect(results.map((r) => [r.stdout, r.stderr, r.exitCode])).toEqual([1, 2, 3, 4, 5, 6].map((i) => [`out${i}\n`, `err${i}\n`, i]))
  })

  test('a command that leaves a job in the background returns when it exits; the job lives on', async () => {
    const h = lab.host('host02')
    const r = await h.exec('sleep 4242 & echo $!', { timeoutMs: 5_000 })
    expect(r.exitCode).toBe(0)
    expect(r.timedOut).toBeUndefined() // it did not wait for the job
    const pid = r.stdout.trim()
    expect(await h.succeed(`cat /proc/${pid}/cmdline | tr '\\0' ' '`)).toBe('sleep 4242 ')
    await h.succeed(`kill ${pid}`)
  })

  test('succeed throws with the transcript; fail throws when the command works', async () => {
    await expect(lab.host('host01').succeed('ip link show nothere')).rejects.toThrow(/expected the command to succeed on host01, it exited 1\n\$ \[host01\] ip link show nothere[\s\S]*Device "nothere" does not exist/)
    await expect(lab.host('host01').fail('true')).rejects.toThrow(/expected the command to fail on host01/)
  })

  test('waitUntilSucceeds retries until the state appears, and gives up at its timeout', async () => {
    const h = lab.host('host02')
    await h.succeed('(sleep 0.3; touch /run/ready) >/dev/null 2>&1 &')
    await expect(h.waitUntilSucceeds('test -e /run/ready', { timeoutMs: 3000 })).resolves.toBe('')
    await expect(h.waitUntilSucceeds('false', { timeoutMs: 300 })).rejects.toThrow(/did not succeed on host02 within 300 ms/)
  })

  test('copyFrom brings a binary file home from the host', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'labproof-test-'))
    await lab.host('host01').succeed('head -c 4096 /dev/urandom > /run/blob && sha256sum /run/blob > /run/blob.sum')
    await lab.host('host01').copyFrom('/run/blob', path.join(dir, 'blob'))
    const { createHash } = await import('node:crypto')
    const local = createHash('sha256').update(await readFile(path.join(dir, 'blob'))).digest('hex')
    expect((await lab.host('host01').succeed('cat /run/blob.sum')).split(' ')[0]).toBe(local)
    await rm(dir, { recursive: true })
  })

  test('capabilities: features probed by trying them, tools listed, nothing left behind', async () => {
    const caps = await lab.host('host01').capabilities()
    expect(caps.features.veth).toBe(true)
    expect(caps.features.bridge).toBe(true)
    expect(caps.tools.ip).toBe(true)
    expect(caps.kernelRelease).toMatch(/^\d+\.\d+/)
    // The trials run side by side: each feature still gets its own answer, a missing one the
    // kernel's error on one line (`ip` says more than one for some).
    for (const [f, v] of Object.entries(caps.features)) {
      if (v !== true) expect(v, f).toMatch(/^[^\n]{1,160}$/)
      if (v !== true) expect(v, f).not.toMatch(/^not probed/)
    }
    expect(await lab.host('host01').succeed('ip -br link')).not.toMatch(/lp-/)
    // The cgroup v1 trial makes and removes a cgroup in the machine's freezer hierarchy (here
    // where this machine mounts it), and mounts it only in a scratch mount namespace.
    const freezer = await readdir('/sys/fs/cgroup/freezer').catch(() => [] as string[])
    expect(freezer.filter((n) => n.startsWith('lp-'))).toEqual([])
    expect(await lab.host('host01').succeed('grep -c labproof-probe /proc/self/mountinfo || true')).toBe('0\n')
    // Same kernel, same file system: one probe answers for every netns host, under its own name.
    expect(await lab.host('host02').capabilities()).toEqual({ ...caps, host: 'host02' })
  })

  test('capabilities: an ip without -batch gets the same answer, trying each link kind on its own', async () => {
    const host = lab.host('host01')
    const caps = await host.capabilities()
    // An `ip` that refuses -batch (as BusyBox's does), first on the PATH of the probe's shell.
    const ip = (await host.succeed('command -v ip')).trim()
    const dir = (await host.succeed(`d=$(mktemp -d) && cat > $d/ip <<'EOF' && chmod +x $d/ip && echo $d
#!/bin/sh
case " $* " in *" -batch "*) echo 'Option "-batch" is unknown, try "ip -help".' >&2; exit 255 ;; esac
exec ${ip} "$@"
EOF`)).trim()
    expect(await host.exec(`PATH=${dir}:$PATH ip -force -batch - </dev/null`)).toMatchObject({ exitCode: 255 })
    const r = await host.exec(`PATH=${dir}:$PATH; export PATH\n${probeScript()}`)
    expect(r.stdout).not.toMatch(/ip-batch/)
    expect(parseProbe('host01', r.stdout).features).toEqual(caps.features)
    await host.succeed(`rm -r ${dir}`)
  })
})

describe.skipIf(!root)('netns lab lifetime (needs root)', () => {
  test('destroy removes every node process', async () => {
    const lab = await netnsBackend.provision(buildTopology())
    const nodes = netnsNodePids({ labId: lab.id })
    expect(nodes.length).toBeGreaterThanOrEqual(4)
    // Every node started its shell with it, the one host01 runs this command in among them.
    await lab.host('host01').succeed('true')
    const shells = shellServersOf(nodes)
    expect(shells.length).toBe(4)
    // A shell entered from here (nsenter) after host01's own shell is killed from inside the host.
    // (The server is the command's ancestor whose parent is the node's PID 1: the command's
    // parent with the Perl server, the parent of the server's job for it with the sh one.)
    await lab.host('host01').exec('p=$$; while q=$(ps -o ppid= -p "$p") && [ $q != 1 ]; do p=$q; done; kill -KILL "$p"')
    await lab.host('host01').succeed('true')
    const entered = processes().filter((p) => p.ppid === process.pid && p.argv[0]!.endsWith('nsenter') && p.argv.at(-1)!.includes(SHELL_DIR)).map((p) => p.pid)
    expect(entered.length).toBe(1)
    await lab.destroy()
    expect(netnsNodePids({ labId: lab.id })).toEqual([])
    const left = new Set(processes().map((p) => p.pid))
    expect([...shells, ...entered].filter((pid) => left.has(pid))).toEqual([])
  })

  test('a labproof process killed with SIGKILL takes its hosts with it', async () => {
    const { spawn } = await import('node:child_process')
    const script = `
      import { netnsBackend } from ${JSON.stringify(new URL('../../harness/backends/netns/netns.ts', import.meta.url).pathname)}
      import { buildTopology } from ${JSON.stringify(new URL('../../harness/topology.ts', import.meta.url).pathname)}
      const lab = await netnsBackend.provision(buildTopology())
      await lab.host('host01').succeed('ip netns add ns1; (sleep 600 &)')
      console.log(lab.id)
      setInterval(() => {}, 1000)
    `
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    const labId = await new Promise<string>((resolve) => child.stdout.once('data', (d) => resolve(String(d).trim())))
    expect(netnsNodePids({ labId }).length).toBeGreaterThanOrEqual(4)
    child.kill('SIGKILL')
    const deadline = Date.now() + 5000
    while (netnsNodePids({ labId }).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(netnsNodePids({ labId })).toEqual([])
  })
})

/** The command shells (sh -c <server>) the node processes `nodes` started in their hosts. */
function shellServersOf(nodes: number[]): number[] {
  const all = processes()
  const inits = new Set(all.filter((p) => nodes.includes(p.ppid)).map((p) => p.pid))
  return all.filter((p) => inits.has(p.ppid) && p.argv.at(-1)!.includes(SHELL_DIR)).map((p) => p.pid)
}
