// The docker backend on a real engine: the same picture as the netns backend, reaping by label,
// and nothing left behind after destroy, a signal, or a SIGKILLed owner.
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type Dockerode from 'dockerode'
import { dockerBackend, type DockerProvisionOptions } from '../../harness/backends/docker/docker.ts'
import { dockerClient, ensureHostImage } from '../../harness/backends/docker/docker-image.ts'
import { LABEL_LAB, reapDocker } from '../../harness/backends/docker/docker-reaper.ts'
import type { Lab } from '../../harness/lab.ts'
import { parsePing } from '../../harness/parse/ping.ts'
import { buildTopology } from '../../harness/topology.ts'
import { describeWithEngine, dockerMissing } from '../helpers/engines.ts'
import { startOwnerProcess } from '../helpers/owner-process.ts'

// Ryuk needs an image pulled from a registry; labproof reaps by label itself.
process.env.TESTCONTAINERS_RYUK_DISABLED = 'true'

const missing = await dockerMissing()
const docker: Dockerode | undefined = missing ? undefined : await dockerClient()

/** true when this engine starts a privileged container, else its refusal. */
async function enginePrivileged(engine: Dockerode, image: string): Promise<true | string> {
  let container: Dockerode.Container | undefined
  try {
    container = await engine.createContainer({ Image: image, Cmd: ['true'], HostConfig: { Privileged: true }, Labels: { 'labproof.test': 'privileged-probe' } })
    await container.start()
    await container.wait()
    return true
  } catch (e) {
    return (e as Error).message
  } finally {
    await container?.remove({ force: true }).catch(() => undefined)
  }
}

async function leftovers(labId: string): Promise<{ containers: string[]; networks: string[] }> {
  const filters = JSON.stringify({ label: [`${LABEL_LAB}=${labId}`] })
  const [containers, networks] = await Promise.all([docker!.listContainers({ all: true, filters }), docker!.listNetworks({ filters })])
  return { containers: containers.map((c) => c.Names[0]!), networks: networks.map((n) => n.Name) }
}

describeWithEngine('docker', missing, 'docker backend', () => {
  let lab: Lab

  beforeAll(async () => {
    await ensureHostImage({ distroOrImage: 'bookworm' }) // built once (~1-2 min), cached by recipe
    lab = await dockerBackend.provision(buildTopology())
  })

  afterAll(async () => {
    await lab?.destroy()
  })

  test('hosts are named host-01 and host-02, with ens33 on the underlay and a default route via the gateway', async () => {
    expect([...lab.hosts.keys()]).toEqual(['host01', 'host02', 'gateway', 'internet'])
    expect((await lab.host('host01').succeed('hostname')).trim()).toBe('host-01')
    expect((await lab.host('host02').succeed('hostname')).trim()).toBe('host-02')
    const addr = JSON.parse(await lab.host('host02').succeed('ip -j addr show dev ens33'))[0]
    expect(addr.addr_info.filter((a: { family: string }) => a.family === 'inet')).toEqual([expect.objectContaining({ local: '192.168.21.12', prefixlen: 24 })])
    expect(await lab.host('host01').succeed('ip route show default')).toMatch(/^default via 192\.168\.21\.1 dev ens33 *\n$/)
    expect(await lab.host('host01').fail('ip link show eth0')).toMatch(/does not exist/)
  })

  test('a fresh host does not forward, and its nat table is empty (docker DNS rules removed)', async () => {
    expect((await lab.host('host01').succeed('cat /proc/sys/net/ipv4/ip_forward')).trim()).toBe('0')
    expect((await lab.host('host01').succeed('iptables-save')).trim()).toBe('')
  })

  test('host01 reaches host02 across the underlay segment (ttl 64) and 8.8.8.8 through the gateway (ttl 63)', async () => {
    const h = parsePing((await lab.host('host01').exec('ping -c 2 -i 0.2 -W 1 192.168.21.12')).stdout)
    expect(h.replies.map((r) => r.ttl)).toEqual([64, 64])
    const i = parsePing((await lab.host('host01').exec('ping -c 2 -i 0.2 -W 1 8.8.8.8')).stdout)
    expect(i.replies.map((r) => r.ttl)).toEqual([63, 63])
  })

  test('the gateway has no route back to a private subnet: a private source gets no reply until the host masquerades', async () => {
    const h = lab.host('host01')
    await h.succeed('ip netns add priv && ip link add p0 type veth peer name p1 && ip link set p1 netns priv && ip addr add 10.99.0.1/24 dev p0 && ip link set p0 up && ip netns exec priv ip addr add 10.99.0.2/24 dev p1 && ip netns exec priv ip link set p1 up && ip netns exec priv ip route add default via 10.99.0.1 && sysctl -qw net.ipv4.ip_forward=1')
    expect(await lab.host('gateway').succeed('ip route')).not.toMatch(/^default|10\.99\./m)
    const before = parsePing((await h.exec('ping -c 2 -i 0.2 -W 1 8.8.8.8', { netns: 'priv' })).stdout)
    expect(before.received).toBe(0)
    await h.succeed('iptables -t nat -A POSTROUTING -s 10.99.0.0/24 -j MASQUERADE')
    const after = parsePing((await h.exec('ping -c 2 -i 0.2 -W 1 8.8.8.8', { netns: 'priv' })).stdout)
    expect(after.replies.map((r) => r.ttl)).toEqual([62, 62])
  })

  test('a private subnet routed across the underlay reaches the other host (not dropped by the engine firewall)', async () => {
    // host01's priv namespace (10.99.0.2) pings host02 via a route on host02 back through host01.
    await lab.host('host01').succeed('iptables -t nat -F POSTROUTING')
    await lab.host('host02').succeed('ip route replace 10.99.0.0/24 via 192.168.21.11')
    const r = parsePing((await lab.host('host01').exec('ping -c 2 -i 0.2 -W 1 192.168.21.12', { netns: 'priv' })).stdout)
    expect(r.replies.map((x) => x.ttl)).toEqual([63, 63])
  })

  test('ip netns add in one host is not visible in the other; exec in a namespace with stdin', async () => {
    await lab.host('host02').succeed('ip netns add ns1 && ip netns add ns2 && ip netns add ns3')
    expect(await lab.host('host02').succeed('ip netns list')).toBe('ns3\nns2\nns1\n') // newest first, as on a real host's tmpfs /run
    expect(await lab.host('host01').succeed('ip netns list')).not.toMatch(/ns1/)
    const r = await lab.host('host02').exec('cat; ip -br link show lo', { netns: 'ns1', input: 'hello\n' })
    expect(r.stdout).toMatch(/^hello\nlo +DOWN/)
  })

  test('a hanging command is killed at its timeout, with its children', async () => {
    const r = await lab.host('host01').exec('sleep 30 & sleep 30; echo never', { timeoutMs: 500 })
    expect(r).toMatchObject({ timedOut: true, exitCode: 124 })
    expect(r.stdout).not.toMatch(/never/)
    expect(r.ms).toBeGreaterThanOrEqual(500)
    expect(r.ms).toBeLessThan(30_000) // killed, not waited for
    expect((await lab.host('host01').succeed('ps -eo args')).split('\n')).not.toContain('sleep 30')
    const quick = await lab.host('host01').exec('exit 3', { timeoutMs: 5000 })
    expect(quick).toMatchObject({ exitCode: 3 })
    expect(quick.timedOut).toBeUndefined()
  })

  test('copyFrom brings a binary file home byte for byte (also through a symlink)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'labproof-docker-test-'))
    try {
      await lab.host('host01').succeed('head -c 300000 /dev/urandom > /run/blob && printf "\\0\\377\\n" >> /run/blob && ln -sf blob /run/blob.link && sha256sum /run/blob')
      const remoteSum = (await lab.host('host01').succeed('sha256sum /run/blob')).split(' ')[0]
      await lab.host('host01').copyFrom('/run/blob', path.join(dir, 'blob'))
      await lab.host('host01').copyFrom('/run/blob.link', path.join(dir, 'via-link'))
      for (const f of ['blob', 'via-link']) {
        expect(createHash('sha256').update(await readFile(path.join(dir, f))).digest('hex')).toBe(remoteSum)
      }
      // A file on a mount made inside the container: the archive API cannot see it, the shell can.
      await lab.host('host01').succeed('mkdir -p /mnt/scratch && mount -t tmpfs scratch /mnt/scratch && cp /run/blob /mnt/scratch/blob')
      await lab.host('host01').copyFrom('/mnt/scratch/blob', path.join(dir, 'from-tmpfs'))
      expect(createHash('sha256').update(await readFile(path.join(dir, 'from-tmpfs'))).digest('hex')).toBe(remoteSum)
      await expect(lab.host('host01').copyFrom('/run/nothere', path.join(dir, 'x'))).rejects.toThrow(/copyFrom host01:\/run\/nothere failed/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('tun devices and bridges work inside a host without --privileged', async () => {
    await lab.host('host02').succeed('ip tuntap add tap0 mode tap && ip link add br0 type bridge && ip link set tap0 master br0 && bridge link show dev tap0')
  })
})

describeWithEngine('docker', missing, 'docker lab lifetime', () => {
  // How long provisioning takes is measured by the benchmark (npm run bench), not asserted here.
  test('destroy leaves no labproof container or network, lab after lab', async () => {
    const topology = buildTopology()
    for (let i = 0; i < 3; i++) {
      const lab = await dockerBackend.provision(topology)
      expect((await leftovers(lab.id)).containers).toHaveLength(4)
      await lab.destroy()
      expect(await leftovers(lab.id)).toEqual({ containers: [], networks: [] })
    }
  })

  test('two labs with the same topology run at once, isolated from each other', async () => {
    const [a, b] = await Promise.all([dockerBackend.provision(buildTopology()), dockerBackend.provision(buildTopology())])
    try {
      await a.host('host01').succeed('ip addr add 192.168.21.99/24 dev ens33')
      expect(parsePing((await a.host('host02').exec('ping -c 1 -W 1 192.168.21.99')).stdout).received).toBe(1)
      expect(parsePing((await b.host('host02').exec('ping -c 1 -W 1 192.168.21.99')).stdout).received).toBe(0)
    } finally {
      await Promise.all([a.destroy(), b.destroy()])
    }
  })

  test('--privileged is used where this engine runs a privileged container, and refused with a clear message where it does not', async () => {
    // Ask the engine directly, without labproof, which of the two this engine is.
    const allowed = await enginePrivileged(docker!, await ensureHostImage({ distroOrImage: 'bookworm' }))
    const provisioning = dockerBackend.provision(buildTopology(), { privileged: true } as DockerProvisionOptions)
    if (allowed === true) {
      const lab = await provisioning
      try {
        expect(lab.facts.mode).toBe('privileged')
        expect((await lab.host('host01').succeed('hostname')).trim()).toBe('host-01')
        // Privileged: every capability, CAP_SYS_TIME (bit 25) among them, which the default mode lacks.
        const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(await lab.host('host01').succeed('cat /proc/self/status'))![1]!
        expect(BigInt(`0x${capEff}`) & (1n << 25n)).not.toBe(0n)
      } finally {
        await lab.destroy()
      }
    } else {
      await expect(provisioning).rejects.toThrow(/^this engine refuses --privileged; use the default capability mode/)
      expect(allowed).toMatch(/./) // the engine's own refusal, for the record
    }
    const all = await docker!.listContainers({ all: true, filters: JSON.stringify({ label: [`${LABEL_LAB}`] }) })
    expect(all.filter((c) => c.Labels['labproof.run'] === String(process.pid))).toEqual([])
  })

  for (const [how, signal, expectReaped] of [['SIGKILLed, then the stale sweep runs', 'SIGKILL', 'sweep'], ['sent SIGTERM', 'SIGTERM', 'itself']] as const) {
    test(`a process that provisioned a lab and is ${how} leaves nothing`, async () => {
      const owner = await startOwnerProcess({ module: 'harness/backends/docker/docker.ts', backend: 'dockerBackend' })
      try {
        const { labId } = owner
        expect((await leftovers(labId)).containers).toHaveLength(4)
        owner.child.kill(signal)
        expect(await owner.exited).toBe(signal) // SIGTERM is re-raised after the cleanup, so the exit is by that signal
        if (expectReaped === 'sweep') {
          expect((await leftovers(labId)).containers).toHaveLength(4) // SIGKILL: nothing could run
          const reaped = await reapDocker({ staleOnly: true })
          expect(reaped.containers.filter((c) => c.includes(labId))).toHaveLength(4)
        }
        expect(await leftovers(labId)).toEqual({ containers: [], networks: [] })
      } finally {
        await owner.dispose()
      }
    })
  }

  test('the stale sweep leaves the labs of live processes alone', async () => {
    const lab = await dockerBackend.provision(buildTopology())
    try {
      await reapDocker({ staleOnly: true })
      expect((await leftovers(lab.id)).containers).toHaveLength(4)
    } finally {
      await lab.destroy()
    }
  })
})

describeWithEngine('docker', missing, 'docker backend with an existing image', () => {
  test('an image with every lab tool is used as it is; one missing tools without a package manager is refused, naming them', async () => {
    const base = await ensureHostImage({ distroOrImage: 'bookworm' })
    const tag = `labproof-test/lacking:${process.pid}`
    const maker = await docker!.createContainer({ Image: base, Cmd: ['sh', '-c', 'rm -f /usr/bin/tcpdump /usr/sbin/tcpdump /usr/bin/apt-get /usr/bin/dpkg'], Labels: { 'labproof.test': 'image' } })
    try {
      await maker.start()
      await maker.wait()
      await maker.commit({ repo: tag.split(':')[0], tag: tag.split(':')[1] })
      expect(await ensureHostImage({ distroOrImage: base })).toBe(base)
      await expect(ensureHostImage({ distroOrImage: tag })).rejects.toThrow(/lacks the lab tools tcpdump and has no package manager/)
      await expect(ensureHostImage({ distroOrImage: 'labproof-test/none:0' })).rejects.toThrow(/no image "labproof-test\/none:0"/)
    } finally {
      await maker.remove({ force: true })
      await docker!.getImage(tag).remove({ force: true }).catch(() => undefined)
    }
  })
})
