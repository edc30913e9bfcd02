// `labproof grade` against real machines running Debian's openssh-server (containers on an
// --internal docker network, reached from here over its bridge): one student set up correctly,
// others with the mistakes students make, graded over SSH with exact scores and failed checks;
// a wrong host key, a wrong identity, an unknown host key, an unreachable address and a hung
// command each give that student 0 with a clear reason while the others are graded; ten
// students are graded at once; and grading changes nothing on the machines.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sshFingerprint } from '../../harness/backends/shared/ssh-host.ts'
import { gradeClass } from '../../harness/grade/class.ts'
import { csvField } from '../../harness/grade/csv.ts'
import { gradeStudent, type GradeOptions, type StudentGrade } from '../../harness/grade/grade.ts'
import { runProcess } from '../../harness/local-process.ts'
import { loadScenarios, selectScenarios, type LoadedScenario } from '../../harness/scenario/loader.ts'
import { topologyOf } from '../../harness/scenario/plan.ts'
import { describeWithEngine, dockerMissing } from '../helpers/engines.ts'
import { startStudentMachines, type StudentMachine, type StudentNetwork } from '../helpers/student-machines.ts'

// Ryuk needs an image pulled from a registry; labproof reaps by label itself.
process.env.TESTCONTAINERS_RYUK_DISABLED = 'true'

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

const missing = await dockerMissing()

const [namespaceRouting, vethBridgeNat] = selectScenarios(await loadScenarios(), ['namespace-routing', 'veth-bridge-nat']) as [LoadedScenario, LoadedScenario]

/** The scenario's setup, as a student types it: its commands, without the pings. */
function setupOf(s: LoadedScenario, change: { drop?: RegExp[]; replace?: [string, string][] } = {}): string {
  return s.steps
    .flatMap((step) => ('run' in step ? [step.erratum?.corrected ?? step.run] : []))
    .filter((cmd) => !/\bping\b/.test(cmd))
    .filter((cmd) => !(change.drop ?? []).some((re) => re.test(cmd)))
    .map((cmd) => (change.replace ?? []).reduce((c, [from, to]) => c.replace(from, to), cmd))
    .join('\n')
}

const MACHINES: Record<string, string> = {
  // namespace-routing
  alice: setupOf(namespaceRouting),
  bob: setupOf(namespaceRouting, { drop: [/ip_forward/] }),
  carol: setupOf(namespaceRouting, { drop: [/netns exec ns2 route add/] }),
  dave: setupOf(namespaceRouting, { drop: [/^ip l s v2_r up$/] }),
  erin: setupOf(namespaceRouting),
  kim: setupOf(namespaceRouting),
  // veth-bridge-nat
  grace: setupOf(vethBridgeNat),
  heidi: setupOf(vethBridgeNat, { replace: [['-s 192.168.28.0/24 -j MASQUERADE', '-s 192.168.17.0/24 -j MASQUERADE']] }),
  ivan: setupOf(vethBridgeNat, { drop: [/^ip link set dev veth-2-br up$/] }),
  judy: setupOf(vethBridgeNat),
  // set up right, but its `bridge` command hangs (it comes first in root's PATH)
  frank: `${setupOf(vethBridgeNat)}\nprintf '#!/bin/sh\\nsleep 3600\\n' > /usr/local/sbin/bridge && chmod +x /usr/local/sbin/bridge`,
}

// Titles of the checks, as the reports name them.
const NR = {
  forward: 'net.ipv4.ip_forward = 1 on host01',
  ns2Route: 'route 10.10.10.0/24 via 10.10.20.1 dev v2 on host01/ns2',
  ping12: 'ping 10.10.20.2 from host01/ns1 (ttl 63)',
  ping21: 'ping 10.10.10.2 from host01/ns2 (ttl 63)',
}
const VB = {
  bridge: 'bridge vbridge ports on host01',
  ping: 'ping 192.168.28.1 from host01/ns2 (ttl 64)',
  masquerade: 'iptables nat POSTROUTING has "-s 192.168.28.0/24 -j MASQUERADE" on host01',
}

const failedTitles = (g: StudentGrade) => g.checks.filter((c) => c.status === 'failed').map((c) => c.title).sort()
const fingerprintOf = (m: StudentMachine) => sshFingerprint(Buffer.from(m.hostKey.split(' ')[1]!, 'base64'))

describeWithEngine('docker', missing, 'labproof grade over SSH', () => {
  let net: StudentNetwork
  let dir: string
  let identity: string
  let privateKeyBody: string
  const machine = (name: string) => net.machines.get(name)!

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'labproof-grade-'))
    identity = path.join(dir, 'id_ed25519')
    const key = await opensshKeyPair(identity)
    await opensshKeyPair(path.join(dir, 'wrong_id'))
    privateKeyBody = key.private.split('\n').filter((l) => l && !l.startsWith('-----')).join('')
    net = await startStudentMachines(Object.keys(MACHINES), key.public)
    await Promise.all(Object.entries(MACHINES).map(async ([name, setup]) => {
      await machine(name).run(setup) // a student's mistakes make some commands fail: as on their machine
    }))
  }, 300_000)

  afterAll(async () => {
    await net?.destroy()
    if (dir) await rm(dir, { recursive: true, force: true })
  }, 60_000)

  const options = (extra: Partial<GradeOptions> = {}): GradeOptions => ({
    role: 'host01', commandTimeoutMs: 60_000, connectTimeoutMs: 30_000, identityFile: identity, ...extra,
  })

  test('ten students graded at once over SSH: exact scores and failed checks (the time is printed, not asserted)', async () => {
    const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'kim', 'grace', 'heidi', 'ivan', 'judy']
    const knownHosts = path.join(dir, 'known_hosts.a')
    await writeFile(knownHosts, names.map((n) => `${machine(n).address} ${machine(n).hostKey}\n`).join(''))
    const students = names.map((n) => ({ name: n, target: `ssh://root@${machine(n).address}` }))
    const started = performance.now()
    const grades = await gradeClass(students, namespaceRouting, topologyOf(namespaceRouting), { ...options({ knownHostsFile: knownHosts }), jobs: 10 })
    const seconds = (performance.now() - started) / 1000
    console.log(`graded 10 students on namespace-routing over SSH in ${seconds.toFixed(2)} s: ${grades.map((g) => `${g.name} ${g.score}/${g.max}`).join(', ')}`)

    const byName = new Map(grades.map((g) => [g.name, g]))
    for (const g of grades) expect(g.error, `${g.name}: ${g.error}`).toBeUndefined()
    expect(grades.map((g) => [g.name, g.score, g.max])).toEqual([
      // 10 points of checks, 7 items of the end state (namespaces, v1_r and v2_r with their addresses, FORWARD)
      ['alice', 17, 17], ['bob', 12, 17], ['carol', 12, 17], ['dave', 12, 17], ['erin', 17, 17], ['kim', 17, 17],
      // set up for the other lab: v1 is not in the host, ip_forward is on, ns1 and ns2 exist, FORWARD accepts; nothing else
      ['grace', 5, 17], ['heidi', 5, 17], ['ivan', 5, 17], ['judy', 5, 17],
    ])
    expect(failedTitles(byName.get('alice')!)).toEqual([])
    expect(failedTitles(byName.get('bob')!)).toEqual([NR.forward, NR.ping21, NR.ping12].sort())
    expect(failedTitles(byName.get('carol')!)).toEqual([NR.ns2Route, NR.ping21, NR.ping12].sort())
    expect(failedTitles(byName.get('dave')!)).toEqual([NR.ping21, NR.ping12, 'v2_r in the host: a veth, up, paired with v2 in ns2'].sort())
    expect(byName.get('dave')!.checks.find((c) => c.item === 'link host01 v2_r')!.hint).toBe('ip link set v2_r up')
    // The intermediate checks (v1 down before it is configured, no route before it is added) are not graded.
    expect(byName.get('alice')!.checks.filter((c) => c.status === 'needs-setup').map((c) => c.reason)).toEqual([
      expect.stringMatching(/^describes the lab midway: step \d+ checks the same thing/),
      expect.stringMatching(/^describes the lab midway: step \d+ checks the same thing/),
    ])
    // Evidence and hint for a failure: the command run, what came back, what to do.
    const route = byName.get('carol')!.checks.find((c) => c.title === NR.ns2Route)!
    expect(route.evidence).toEqual([expect.objectContaining({ where: 'host01/ns2', command: 'ip -j route show', exitCode: 0 })])
    expect(route.hint).toMatch(/ns2 has no route to 10\.10\.10\.0\/24: add one via 10\.10\.20\.1/)
    expect(byName.get('alice')!.hostname).toBe('alice')
  }, 300_000)

  test('a class from CSV through the CLI: reports per student, a summary, and 0 with the reason for each machine that cannot be graded', async () => {
    const out = path.join(dir, 'grades')
    // known_hosts, hashed by OpenSSH's own ssh-keygen -H; kim's address carries alice's key
    // (oscar's machine shows the wrong key), erin's address is absent (victor's key is unknown).
    const knownHosts = path.join(dir, 'known_hosts.b')
    await writeFile(knownHosts, [
      ...['grace', 'heidi', 'ivan', 'judy', 'frank'].map((n) => `${machine(n).address} ${machine(n).hostKey}`),
      `${machine('kim').address} ${machine('alice').hostKey}`,
      '',
    ].join('\n'))
    const hashed = await runProcess('ssh-keygen', ['-H', '-f', knownHosts], { timeoutMs: 10_000 })
    expect(hashed.exitCode, hashed.stderr).toBe(0)
    expect(await readFile(knownHosts, 'utf8')).not.toContain(machine('grace').address)

    const csv = path.join(dir, 'students.csv')
    const row = (name: string, target: string, id = 'id_ed25519') => `${name},${target},${id}`
    await writeFile(csv, [
      'name,target,identity',
      ...['grace', 'heidi', 'ivan', 'judy', 'frank'].map((n) => row(n, `ssh://root@${machine(n).address}`)),
      row('oscar', `ssh://root@${machine('kim').address}`),
      row('peggy', `ssh://root@${machine('grace').address}`, 'wrong_id'),
      row('trent', `ssh://root@${net.unusedAddress}:22`),
      row('victor', `ssh://root@${machine('erin').address}`),
      '',
    ].join('\n'))

    const cli = await runProcess(process.execPath, [path.join(REPO_ROOT, 'bin/labproof.js'), 'grade', '--scenario', 'veth-bridge-nat',
      '--targets', csv, '--known-hosts', knownHosts, '--out', out, '--command-timeout', '20000'], { timeoutMs: 300_000 })
    console.log(cli.stdout)
    expect(cli.stdout, cli.stderr).toContain('9 graded in')
    expect(cli.exitCode, cli.stderr).toBe(1) // some students failed checks

    const grade = async (name: string) => JSON.parse(await readFile(path.join(out, `${name}.json`), 'utf8')) as StudentGrade
    const [grace, heidi, ivan, judy, frank, oscar, peggy, trent, victor] = await Promise.all(
      ['grace', 'heidi', 'ivan', 'judy', 'frank', 'oscar', 'peggy', 'trent', 'victor'].map(grade))
    expect([grace, heidi, ivan, judy].map((g) => [g!.name, g!.score, g!.max, g!.error])).toEqual([
      ['grace', 23, 23, undefined], ['heidi', 22, 23, undefined], ['ivan', 17, 23, undefined], ['judy', 23, 23, undefined],
    ])
    expect(failedTitles(heidi!)).toEqual([VB.masquerade])
    expect(failedTitles(ivan!)).toEqual([VB.bridge, VB.ping, 'veth-2 in ns2 has 192.168.28.2/24', 'veth-2 in ns2: a veth, up, paired with veth-2-br in the host',
      'veth-2-br in the host: a veth, up, paired with veth-2 in ns2'].sort())
    expect(ivan!.checks.find((c) => c.title === VB.bridge && c.status === 'failed')).toMatchObject({ expected: 'bridge vbridge on host01: veth-2-br forwarding', got: 'veth-2-br disabled' })
    // nat needs the lab's simulated internet; the first bridge check describes the lab midway
    expect(grace!.checks.filter((c) => c.status === 'needs-setup').map((c) => c.kind)).toEqual(['bridge', 'nat', 'nat'])

    for (const g of [frank, oscar, peggy, trent, victor]) expect([g!.name, g!.score, g!.percent]).toEqual([g!.name, 0, 0])
    expect(frank!.error).toMatch(/^a command timed out: `bridge -j link show` on host01 did not finish within 20000 ms/)
    // The key the machine showed, once; the three places to pin it, and which wins.
    expect(oscar!.error).toBe(`ssh://root@${machine('kim').address}: the machine's host key is ${fingerprintOf(machine('kim'))}, which ${knownHosts} does not match, so labproof did not log in. ` +
      'If this is the student\'s machine (check with ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on it), pin it in one of three places: --host-key-sha256 FP (one machine), ' +
      'the host_key_sha256 column of the students\' CSV, or a known_hosts file (--known-hosts FILE, default ~/.ssh/known_hosts); the CSV column wins over --host-key-sha256, which wins over known_hosts.')
    expect(peggy!.error).toMatch(/authentication refused for user "root" with the given identity/)
    expect(trent!.error).toMatch(new RegExp(`cannot reach ${net.unusedAddress.replace(/\./g, '\\.')}:22 \\(EHOSTUNREACH`))
    expect(victor!.error).toMatch(new RegExp(`^ssh://root@${machine('erin').address.replace(/\./g, '\\.')}: the machine's host key is ${fingerprintOf(machine('erin')).replace(/[+/]/g, '\\$&')}, which ${knownHosts.replace(/[./]/g, '\\$&')} does not list, so labproof did not log in\\. .*pin it in one of three places`))
    expect(victor!.reached).toBe(false)

    const summary = (await readFile(path.join(out, 'summary.csv'), 'utf8')).split('\r\n')
    expect(summary[0]).toBe('name,score,max,percent,failed_checks,error')
    expect(summary.slice(1, 5)).toEqual([
      'grace,23,23,100,,',
      `heidi,22,23,95.7,"step ${heidi!.checks.find((c) => c.status === 'failed')!.step}: iptables nat POSTROUTING has ""-s 192.168.28.0/24 -j MASQUERADE"" on host01",`,
      `ivan,17,23,73.9,${csvField(ivan!.checks.filter((c) => c.status === 'failed').map((c) => `step ${c.step}: ${c.title}`).join('; '))},`,
      'judy,23,23,100,,',
    ])
    expect(summary[5]).toMatch(/^frank,0,23,0,.*a command timed out/)
    expect(summary.slice(6, 10).map((l) => l.split(',').slice(0, 4).join(','))).toEqual(['oscar,0,23,0', 'peggy,0,23,0', 'trent,0,23,0', 'victor,0,23,0'])

    const files = (await readdir(out)).sort()
    for (const n of ['grace', 'frank', 'trent']) expect(files).toEqual(expect.arrayContaining([`${n}.json`, `${n}.junit.xml`, `${n}.html`]))
    const junit = await readFile(path.join(out, 'ivan.junit.xml'), 'utf8')
    // 9 checks (3 not graded) and 16 items of the end state
    expect(junit).toMatch(/<testsuite name="ivan: veth-bridge-nat" tests="25" failures="5" errors="0" skipped="3"/)
    expect(junit).toContain('<property name="score" value="17"/>')
    const html = await readFile(path.join(out, 'ivan.html'), 'utf8')
    expect(html).toContain('17 / 23 points')
    expect(html).toContain('<tr><td>step2:创建虚拟交换机</td><td>6 / 12</td></tr>')
    // Not graded: no points shown. Output of ip -j / bridge -j: indented.
    expect(html).not.toMatch(/not graded \(needs setup\)<\/span>, \d/)
    expect(html).toContain('&quot;ifname&quot;: &quot;veth-1-br&quot;,')
    const trentHtml = await readFile(path.join(out, 'trent.html'), 'utf8')
    expect(trentHtml).toContain('labproof could not reach this student\'s machine')
    expect(trentHtml).not.toContain('checked this student\'s machine')
    expect(html).toContain('What to do: every port of vbridge must be up to forward')
    expect(html).toContain('$ bridge -j link show')

    // No key material anywhere: console, reports, summary.
    const everything = [cli.stdout, cli.stderr, ...await Promise.all(files.map((f) => readFile(path.join(out, f), 'utf8')))].join('\n')
    expect(everything).not.toContain(privateKeyBody)
    expect(everything).not.toContain('PRIVATE KEY')
  }, 400_000)

  test('one machine through the CLI, its host key pinned by fingerprint: the score, the failed checks with hints and evidence', async () => {
    const bob = machine('bob')
    const cli = await runProcess(process.execPath, [path.join(REPO_ROOT, 'bin/labproof.js'), 'grade', '--scenario', 'namespace-routing',
      '--target', `ssh://root@${bob.address}`, '--identity', identity, '--host-key-sha256', fingerprintOf(bob),
      '--name', 'bob', '--out', path.join(dir, 'single')], { timeoutMs: 60_000 })
    expect(cli.stdout, cli.stderr).toContain('score: 12 / 17 (70.6%)')
    expect(cli.exitCode, cli.stderr).toBe(1)
    expect(cli.stdout).toMatch(/FAIL step \d+  net\.ipv4\.ip_forward = 1 on host01  \[0\/1\]\n\s+expected net\.ipv4\.ip_forward = 1 on host01\n\s+got net\.ipv4\.ip_forward = 0\n\s+hint: the host does not forward packets between v1_r and v2_r: echo 1 > \/proc\/sys\/net\/ipv4\/ip_forward\n\s+\| \$ \[host01\] sysctl -n net\.ipv4\.ip_forward/)
    expect(cli.stdout).toContain(path.join(dir, 'single', 'bob.html'))
  }, 60_000)

  test('a docker:CONTAINER target grades the same as SSH', async () => {
    const alice = machine('alice')
    const overSsh = await gradeStudent({ name: 'alice', target: `ssh://root@${alice.address}` }, namespaceRouting, topologyOf(namespaceRouting), options({ hostKeySha256: [fingerprintOf(alice)] }))
    const overDocker = await gradeStudent({ name: 'alice', target: `docker:${alice.container}` }, namespaceRouting, topologyOf(namespaceRouting), options())
    expect(overDocker.error).toBeUndefined()
    expect(overDocker.machine).toBe(`docker container ${alice.container}`)
    expect(overDocker.checks.map((c) => [c.step, c.status])).toEqual(overSsh.checks.map((c) => [c.step, c.status]))
    expect([overDocker.score, overDocker.max]).toEqual([17, 17])
  }, 60_000)

  test('a non-root login grades through sudo -n with --sudo; without it the namespaces cannot be entered', async () => {
    const dave = machine('dave')
    const added = await dave.run('useradd -m student && mkdir -p ~student/.ssh && cp /root/.ssh/authorized_keys ~student/.ssh/ && chown -R student ~student/.ssh && ' +
      "echo 'student ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/student")
    expect(added.exitCode, added.stderr).toBe(0)
    const target = { name: 'dave', target: `ssh://student@${dave.address}` }
    const pinned = options({ hostKeySha256: [fingerprintOf(dave)] })
    const withSudo = await gradeStudent(target, namespaceRouting, topologyOf(namespaceRouting), { ...pinned, sudo: true })
    expect([withSudo.score, withSudo.max, withSudo.error]).toEqual([12, 17, undefined])
    expect(withSudo.machine).toContain('commands through sudo -n')
    const withoutSudo = await gradeStudent(target, namespaceRouting, topologyOf(namespaceRouting), pinned)
    expect(withoutSudo.score).toBeLessThan(12)
    expect(withoutSudo.checks.find((c) => c.title === NR.ns2Route)!.got).toMatch(/Operation not permitted|Permission denied/)
  }, 60_000)

  test('grading changes nothing on the machine', async () => {
    const snapshot = 'ip netns list; ip -all netns exec ip -j addr; ip -all netns exec ip -j route; ip -j addr; ip -j route; bridge -j link show; sysctl net.ipv4.ip_forward; iptables-save | grep -v "^#"'
    for (const name of ['carol', 'grace']) {
      const m = machine(name)
      const scenario = name === 'carol' ? namespaceRouting : vethBridgeNat
      const before = await m.run(snapshot)
      const g = await gradeStudent({ name, target: `ssh://root@${m.address}` }, scenario, topologyOf(scenario), options({ hostKeySha256: [fingerprintOf(m)] }))
      expect(g.error).toBeUndefined()
      const after = await m.run(snapshot)
      expect(after.stdout).toBe(before.stdout)
      expect(before.stdout).toContain('ns2')
    }
  }, 60_000)
})

/** A key pair as a student makes one, by OpenSSH's ssh-keygen. (ssh2's own generator makes about
 *  one ed25519 key in 256 that ssh2 then cannot parse: mscdex/ssh2#1513.) */
async function opensshKeyPair(file: string): Promise<{ private: string; public: string }> {
  const r = await runProcess('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'labproof-grade-test', '-f', file], { timeoutMs: 10_000 })
  if (r.exitCode !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`)
  return { private: await readFile(file, 'utf8'), public: (await readFile(`${file}.pub`, 'utf8')).trim() }
}
