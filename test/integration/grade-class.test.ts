// A class for the bridge/NAT lab (veth-bridge-nat), each machine built by hand over SSH with one
// mistake of its own, graded against the scenario's checks and the lab's recorded end state:
// exact scores and the hints a teacher would give, a correct variant of the MASQUERADE rule at
// full marks. Then the live class board in Debian's chromium: it shows the class and follows a
// student's machine as it changes. Machines are containers on an --internal docker network.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { gradeClass } from '../../harness/grade/class.ts'
import { prepareGrading, type GradeOptions, type StudentGrade } from '../../harness/grade/grade.ts'
import { runProcess } from '../../harness/local-process.ts'
import { loadScenarios, selectScenarios, type LoadedScenario } from '../../harness/scenario/loader.ts'
import { topologyOf } from '../../harness/scenario/plan.ts'
import { describeWithEngine, dockerMissing } from '../helpers/engines.ts'
import { startStudentMachines, type StudentNetwork } from '../helpers/student-machines.ts'

process.env.TESTCONTAINERS_RYUK_DISABLED = 'true'
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CHROMIUM = '/usr/bin/chromium'

const missing = await dockerMissing()
const [lab] = selectScenarios(await loadScenarios(), ['veth-bridge-nat']) as [LoadedScenario]

/** The lab's commands as a student types them (without the pings), with one change. */
function setup(change: { drop?: RegExp[]; replace?: [string, string][]; add?: string[] } = {}): string {
  return [
    ...lab.steps
      .flatMap((step) => ('run' in step ? [step.erratum?.corrected ?? step.run] : []))
      .filter((cmd) => !/\bping\b/.test(cmd))
      .filter((cmd) => !(change.drop ?? []).some((re) => re.test(cmd)))
      .map((cmd) => (change.replace ?? []).reduce((c, [from, to]) => c.replace(from, to), cmd)),
    ...(change.add ?? []),
  ].join('\n')
}

const CLASS: Record<string, string> = {
  grace: setup(),
  // the MASQUERADE rule written differently, and still masquerading the lab's traffic
  olivia: setup({ replace: [['-s 192.168.28.0/24 -j MASQUERADE', '-s 192.168.28.0/24 ! -o vbridge -j MASQUERADE']] }),
  noah: setup({ drop: [/ip_forward=1/] }),
  liam: setup({ drop: [/netns exec ns1 ip route add default/, /netns exec ns3 ip route add default/] }),
  heidi: setup({ replace: [['-s 192.168.28.0/24 -j MASQUERADE', '-s 192.168.17.0/24 -j MASQUERADE']] }),
  // ns3 is cut off from the bridge: its veth's other end never joins vbridge
  mia: setup({ drop: [/^ip link set veth-3-br master vbridge$/] }),
  ivan: setup({ drop: [/^ip link set dev veth-2-br up$/] }),
  // forwarding on, but the FORWARD chain drops what it does not know
  zoe: setup({ add: ['iptables -P FORWARD DROP'] }),
}

const failed = (g: StudentGrade) => g.checks.filter((c) => c.status === 'failed').map((c) => `${c.item ? 'item' : 'check'}: ${c.title}`).sort()
const hints = (g: StudentGrade) => g.checks.filter((c) => c.status === 'failed').map((c) => c.hint ?? '')

// A missing engine skips with the reason, or fails where LABPROOF_REQUIRE names docker (CI).
describeWithEngine('docker', missing, 'grading the bridge/NAT lab against its end state', () => {
  let net: StudentNetwork
  let dir: string
  let identity: string
  const grades = new Map<string, StudentGrade>()

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'labproof-grade-class-'))
    identity = path.join(dir, 'id_ed25519')
    const keygen = await runProcess('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'labproof-grade-class', '-f', identity], { timeoutMs: 10_000 })
    if (keygen.exitCode !== 0) throw new Error(keygen.stderr)
    net = await startStudentMachines(Object.keys(CLASS), (await readFile(`${identity}.pub`, 'utf8')).trim())
    await Promise.all(Object.entries(CLASS).map(([name, script]) => net.machines.get(name)!.run(script)))
    const knownHosts = path.join(dir, 'known_hosts')
    await writeFile(knownHosts, [...net.machines.values()].map((m) => `${m.address} ${m.hostKey}\n`).join(''))
    // Generous: on a loaded machine (2 cores, several suites at once) one command can take seconds.
    const opts: GradeOptions = { role: 'host01', commandTimeoutMs: 60_000, connectTimeoutMs: 30_000, identityFile: identity, knownHostsFile: knownHosts }
    const students = Object.keys(CLASS).map((name) => ({ name, target: `ssh://root@${net.machines.get(name)!.address}` }))
    const plan = await prepareGrading(lab, topologyOf(lab), 'host01')
    for (const g of await gradeClass(students, lab, topologyOf(lab), { ...opts, jobs: 8, plan })) grades.set(g.name, g)
  }, 300_000)

  afterAll(async () => {
    await net?.destroy()
    if (dir) await rm(dir, { recursive: true, force: true })
  }, 60_000)

  test('the end state is compared: every student scored, a correct variant at full marks', () => {
    for (const g of grades.values()) expect(g.error, `${g.name}: ${g.error}`).toBeUndefined()
    console.log([...grades.values()].map((g) => `${g.name} ${g.score}/${g.max}: ${failed(g).join(' | ')}`).join('\n'))
    expect([...grades.values()].map((g) => [g.name, g.score, g.max])).toEqual([
      ['grace', 23, 23], ['olivia', 23, 23], ['noah', 20, 23], ['liam', 21, 23],
      ['heidi', 22, 23], ['mia', 19, 23], ['ivan', 17, 23], ['zoe', 20, 23],
    ])
    expect(grades.get('grace')!.endState).toBe('compared')
  })

  test('forwarding off: the sysctl item fails with what to do, and a ping across the bridge says why it fails here', () => {
    const noah = grades.get('noah')!
    const bridgeNfOn = noah.conditions.find((c) => c.name === 'br_netfilter')!.value === 'loaded, bridge-nf-call-iptables = 1'
    // Where br_netfilter sends bridged traffic through the IP forwarding path, forwarding off also stops it.
    expect(failed(noah)).toEqual([...(bridgeNfOn ? ['check: ping 192.168.28.1 from host01/ns2 (ttl 64)'] : []), 'item: net.ipv4.ip_forward = 1'])
    expect(noah.checks.find((c) => c.item === 'sysctl host01 net.ipv4.ip_forward')!.hint).toBe('the host does not forward packets between its interfaces: sysctl -w net.ipv4.ip_forward=1')
    if (bridgeNfOn) {
      expect(noah.checks.find((c) => c.kind === 'ping' && c.status === 'failed')!.hint)
        .toMatch(/^on this machine br_netfilter is loaded \(bridge-nf-call-iptables = 1\), so traffic across a bridge also takes the IP forwarding path, and net\.ipv4\.ip_forward = 0\. Otherwise: /)
    }
  })

  test('default routes missing in two namespaces: two items, each naming the lab\'s route', () => {
    const liam = grades.get('liam')!
    expect(failed(liam)).toEqual(['item: ns1 routes default via 192.168.28.5 dev veth-1', 'item: ns3 routes default via 192.168.28.5 dev veth-3'])
    expect(hints(liam)).toEqual([
      'ns1 has no default route; the lab has `default via 192.168.28.5 dev veth-1`: ip netns exec ns1 ip route add default via 192.168.28.5',
      'ns3 has no default route; the lab has `default via 192.168.28.5 dev veth-3`: ip netns exec ns3 ip route add default via 192.168.28.5',
    ])
  })

  test('a MASQUERADE rule that misses the lab\'s traffic: the hint names the flow', () => {
    const heidi = grades.get('heidi')!
    expect(failed(heidi)).toEqual(['check: iptables nat POSTROUTING has "-s 192.168.28.0/24 -j MASQUERADE" on host01'])
    const masquerade = heidi.checks.find((c) => c.status === 'failed')!
    expect(masquerade.got).toBe('no rule of nat POSTROUTING matches it, so the policy (ACCEPT) applies')
    expect(masquerade.hint).toContain('ns1 (192.168.28.1) → 8.8.8.8 is not masqueraded on this machine')
    expect(masquerade.dependsOn).toEqual(['iptables'])
    const olivia = grades.get('olivia')!
    expect(olivia.checks.find((c) => c.kind === 'iptables')!.summary).toMatch(/^the lab's traffic \(ns1 \(192\.168\.28\.1\) → 8\.8\.8\.8; .*\) is masqueraded in nat POSTROUTING$/)
  })

  test('a namespace cut off from the bridge loses every item that depends on it', () => {
    const mia = grades.get('mia')!
    expect(failed(mia)).toEqual([
      'check: bridge vbridge ports on host01',
      'item: ns3 routes default via 192.168.28.5 dev veth-3',
      'item: veth-3 in ns3 has 192.168.28.3/24',
      'item: veth-3 in ns3: a veth, up, paired with veth-3-br in the host',
    ])
    for (const c of mia.checks.filter((x) => x.item && x.status === 'failed')) {
      expect(c.hint).toBe('depends on ns3 being connected: ns3 does not reach vbridge as the lab connects it: veth-3-br, the other end of veth-3, is not a port of vbridge; ip link set veth-3-br master vbridge')
    }
    const section = mia.sections.find((s) => s.section.startsWith('step2'))!
    expect(section.score).toBeLessThan(section.max)
  })

  test('a port left down: the bridge, the ping across it and the namespace behind it', () => {
    const ivan = grades.get('ivan')!
    expect(failed(ivan)).toEqual([
      'check: bridge vbridge ports on host01',
      'check: ping 192.168.28.1 from host01/ns2 (ttl 64)',
      'item: veth-2 in ns2 has 192.168.28.2/24',
      'item: veth-2 in ns2: a veth, up, paired with veth-2-br in the host',
      'item: veth-2-br in the host: a veth, up, paired with veth-2 in ns2',
    ])
    expect(ivan.checks.find((c) => c.title === 'veth-2-br in the host: a veth, up, paired with veth-2 in ns2')!.hint).toBe('ip link set veth-2-br up')
  })

  test('the machine\'s conditions are shown, and a ping across the bridge says it depends on br_netfilter', () => {
    const zoe = grades.get('zoe')!
    expect(zoe.conditions.map((c) => c.name)).toEqual(['kernel', 'br_netfilter', 'iptables'])
    const bridgeNf = zoe.conditions.find((c) => c.name === 'br_netfilter')!
    const ping = zoe.checks.find((c) => c.kind === 'ping' && c.status !== 'needs-setup')!
    expect(ping.dependsOn).toEqual(['br_netfilter'])
    const forwarding = zoe.checks.find((c) => c.kind === 'forwarding')!
    expect(forwarding.status).toBe('failed')
    expect(forwarding.hint).toMatch(/^ns1 \(192\.168\.28\.1\) → 8\.8\.8\.8 is not let through on this machine \(no rule of filter FORWARD matches it, so the policy \(DROP\) applies\)/)
    // With br_netfilter on, FORWARD DROP also stops the ping between two namespaces on the bridge.
    expect(ping.status).toBe(bridgeNf.value === 'loaded, bridge-nf-call-iptables = 1' ? 'failed' : 'passed')
  })

  test.skipIf(!existsSync(CHROMIUM))(`the live class board in chromium shows the class and follows a machine as it changes${existsSync(CHROMIUM) ? '' : ` — skipped: no ${CHROMIUM} (apt-get install chromium)`}`, async () => {
    const csv = path.join(dir, 'board.csv')
    const knownHosts = path.join(dir, 'known_hosts')
    await writeFile(csv, [
      'name,target,identity,email,lms_id',
      ...['grace', 'noah', 'ivan'].map((n, i) => `${n},ssh://root@${net.machines.get(n)!.address},id_ed25519,${n}@school.example,S${i}`),
      `trent,ssh://root@${net.unusedAddress},id_ed25519,trent@school.example,S9`,
      '',
    ].join('\n'))
    const out = path.join(dir, 'board-out')
    const cli = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/labproof.js'), 'grade', '--scenario', 'veth-bridge-nat', '--targets', csv, '--known-hosts', knownHosts,
      '--watch', '--interval', '1', '--serve', '127.0.0.1:0', '--out', out, '--connect-timeout', '5000', '--command-timeout', '60000'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    cli.stdout.on('data', (d) => { stdout += String(d) })
    const exited = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)))
    const profile = await mkdtemp(path.join(tmpdir(), 'labproof-chromium-'))
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const look = () => { const m = /class board: (http\S+)/.exec(stdout); if (m) resolve(m[1]!) }
        cli.stdout.on('data', look)
        look()
        void exited.then((code) => reject(new Error(`labproof grade exited ${code} before serving: ${stdout}`)))
      })
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
      const browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM, headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      })
      try {
        const page = await browser.newPage()
        await page.goto(url)
        const scoreOf = (name: string) => page.locator(`tr[data-student="${name}"] td[data-score]`)
        await expect.poll(() => scoreOf('noah').textContent(), { timeout: 180_000, interval: 500 }).toBe('20 / 23')
        await expect.poll(() => scoreOf('grace').textContent(), { timeout: 60_000, interval: 500 }).toBe('23 / 23')
        await expect.poll(() => scoreOf('ivan').textContent(), { timeout: 60_000, interval: 500 }).toBe('17 / 23')
        await expect.poll(() => page.locator('tr[data-student="trent"]').textContent(), { timeout: 60_000, interval: 500 }).toMatch(/could not be reached: .*cannot reach/)
        expect(await page.locator('#board thead th').allTextContents()).toEqual(['Student', 'Score', ...new Set(lab.steps.flatMap((st) => ('section' in st ? [st.section] : [])))])
        expect(await page.locator('tr[data-student="ivan"] td[data-section="step2:创建虚拟交换机"]').textContent()).toBe('6 / 12')

        // The student fixes the machine; the page, not reloaded, follows.
        const fixed = await net.machines.get('noah')!.run('sysctl -qw net.ipv4.ip_forward=1')
        expect(fixed.exitCode, fixed.stderr).toBe(0)
        await expect.poll(() => scoreOf('noah').textContent(), { timeout: 120_000, interval: 500 }).toBe('23 / 23')

        // Click for the student's report.
        await page.locator('tr[data-student="ivan"] a').click()
        await expect.poll(() => page.locator('h1').textContent(), { timeout: 30_000 }).toBe('ivan — Container-style network with veth, a bridge and MASQUERADE')
        expect(await page.locator('.score').textContent()).toContain('17 / 23 points')
        const moodle = await (await fetch(new URL('gradebook-moodle.csv', url))).text()
        expect(moodle.split('\r\n')[0]).toBe('Email address,ID number,"Container-style network with veth, a bridge and MASQUERADE",Feedback')
        expect(moodle).toContain('grace@school.example,S0,23,')
        expect((await fetch(url, { method: 'POST' })).status).toBe(405)
      } finally {
        await browser.close()
      }
    } finally {
      cli.kill('SIGTERM')
      await exited
      await rm(profile, { recursive: true, force: true })
    }
    const canvas = (await readFile(path.join(out, 'gradebook-canvas.csv'), 'utf8')).split('\r\n')
    expect(canvas.slice(0, 2)).toEqual(['Student,ID,SIS User ID,SIS Login ID,Section,"Container-style network with veth, a bridge and MASQUERADE"', 'Points Possible,,,,,23'])
  }, 600_000)
})
