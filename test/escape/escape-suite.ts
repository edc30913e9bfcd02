// The escape suite: hostile.yaml's commands on a fresh lab of one backend, then the count of
// hostile effects tried and of those that escaped. An effect escaped when the command proved it
// from inside (it printed LABPROOF-ESCAPED) or when what it aims at changed on this machine; and
// the machine as a whole (machine-snapshot.ts) must be the same before and after.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Backend } from '../../harness/lab.ts'
import { loadScenarioFile } from '../../harness/scenario/loader.ts'
import { isRunStep, type RunStep } from '../../harness/scenario/schema.ts'
import { buildTopology } from '../../harness/topology.ts'
import { diffSnapshots, fileFlags, snapshotMachine } from './machine-snapshot.ts'

export const HOSTILE_SCENARIO = fileURLToPath(new URL('./hostile.yaml', import.meta.url))
const MARK = 'labproof-escape-test'
const VICTIM_FILE = '/tmp/labproof-escape-victim-file'
const VICTIM_FILE_TEXT = 'the escape suite made this file; a host may read it but not change it\n'
const SECRET_FILE = '/root/labproof-escape-secret'

export interface EffectResult {
  id: string
  what: string
  host: string
  exitCode: number
  /** Why it counts as escaped, or undefined. */
  escaped?: string
  output: string
}

export interface EscapeReport {
  backend: string
  tried: number
  escaped: EffectResult[]
  effects: EffectResult[]
  /** Lines of the machine snapshot that differ (must be none). */
  machineChanges: string[]
}

const contains = (file: string, text: string) => existsSync(file) && readFileSync(file, 'utf8').includes(text)
const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' })

/** How each effect would show on this machine, were it to escape: what is found, or undefined. */
function machineChecks(before: { modules: string; forwarding: string; redirects: string; hostname: string }): Record<string, () => string | undefined> {
  const exists = (...files: string[]) => () => files.filter((f) => existsSync(f)).map((f) => `${f} exists on the machine`).join('; ') || undefined
  const has = (file: string) => () => (contains(file, MARK) ? `${file} on the machine holds ${MARK}` : undefined)
  return {
    'etc-file': exists('/etc/labproof-escape-test'),
    'etc-hosts': has('/etc/hosts'),
    'etc-sysctl-conf': has('/etc/sysctl.conf'),
    'etc-rt-tables': has('/etc/iproute2/rt_tables'),
    'tmp-file': exists('/tmp/labproof-escape-test'),
    'root-ssh': has('/root/.ssh/authorized_keys'),
    'root-file': exists('/root/labproof-escape-test'),
    'var-file': exists('/var/tmp/labproof-escape-test', '/var/lib/labproof-escape-test'),
    'usr-local': exists('/usr/local/bin/labproof-escape-test'),
    'dpkg-install': () => (run('dpkg-query', ['-W', 'labproof-escape-test']).status === 0 ? 'dpkg on the machine lists labproof-escape-test' : exists('/usr/local/share/labproof-escape-test')()),
    'dev-block': () => undefined,
    'dd-block': () => undefined,
    'mknod-block': () => readdirSync('/tmp').filter((n) => n.startsWith('labproof-escape-') && /^labproof-escape-(vd|sd|nvme|loop|xvd|dm-|sr|ram|zram|md)/.test(n)).map((n) => `/tmp/${n} exists on the machine`).join('; ') || undefined,
    'mount-tmpfs': () => (readFileSync('/proc/1/mountinfo', 'utf8').includes(MARK) ? 'a labproof-escape-test mount in the machine' : undefined),
    'mount-bind': exists('/usr/local/share/labproof-escape-test'),
    'sysctl-vm': () => undefined,
    'sysctl-kernel': () => undefined,
    'proc-sys-vm': () => undefined,
    'sysctl-net': () => {
      const now = [readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'), readFileSync('/proc/sys/net/ipv4/conf/all/accept_redirects', 'utf8')]
      return now[0] !== before.forwarding || now[1] !== before.redirects ? `the machine's forwarding/accept_redirects changed: ${now.map((v) => v.trim()).join('/')}` : undefined
    },
    modprobe: () => (modules() !== before.modules ? 'the machine\'s loaded modules changed' : undefined),
    hostname: () => (readFileSync('/proc/sys/kernel/hostname', 'utf8') !== before.hostname ? 'the machine was renamed' : undefined),
    'ip-link': () => (run('ip', ['-d', 'link', 'show']).stdout.includes(MARK) ? 'a link of the machine has the alias' : undefined),
    'ip-link-add': () => (run('ip', ['link', 'show', 'labproof-esc0']).status === 0 ? 'labproof-esc0 is a link of the machine' : undefined),
    'ip-route': () => (run('ip', ['route', 'show', '198.51.100.0/24']).stdout.trim() || run('ip', ['rule', 'show']).stdout.includes('198.51.100.0/24') ? 'the machine has the route or rule' : undefined),
    iptables: () => (run('iptables-save', []).stdout.includes('LABPROOF-ESCAPE-TEST') ? 'the machine has the chain LABPROOF-ESCAPE-TEST' : undefined),
    nft: () => (run('sh', ['-c', 'command -v nft >/dev/null && nft list tables']).stdout.includes('labproof_escape_test') ? 'the machine has the nft table' : undefined),
    kill: () => undefined, // judged by the victim process, after the lab
    ps: () => undefined,
    outlive: () => undefined, // judged after the lab is gone
    chattr: () => (/a/.test(fileFlags(VICTIM_FILE).replace(/-/g, '').replace(/e/g, '')) ? `${VICTIM_FILE} on the machine is append-only` : undefined),
    'machine-file': () => (readFileSync(VICTIM_FILE, 'utf8') !== VICTIM_FILE_TEXT ? `${VICTIM_FILE} on the machine was changed` : undefined),
    'read-secrets': () => undefined, // judged by the output: the secret's text
    'relative-path': exists('/tmp/labproof-escape-cwd-test', '/tmp/labproof-escape-dotdot-test', '/labproof-escape-cwd-test'),
    'fill-tmp': exists('/tmp/labproof-escape-fill'),
  }
}

/** Marker files the suite looks for must not be there before it starts. */
function leftovers(): string[] {
  const places = ['/etc/labproof-escape-test', '/tmp/labproof-escape-test', '/root/labproof-escape-test', '/var/tmp/labproof-escape-test',
    '/var/lib/labproof-escape-test', '/usr/local/bin/labproof-escape-test', '/usr/local/share/labproof-escape-test', '/tmp/labproof-escape-fill',
    '/tmp/labproof-escape-cwd-test', '/tmp/labproof-escape-dotdot-test']
  return places.filter((p) => existsSync(p))
}

function processesWith(marker: string): number[] {
  const found: number[] = []
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) found.push(Number(pid))
    } catch { /* gone meanwhile */ }
  }
  return found
}

export async function runEscapeSuite(backend: Backend, opts: { provisionOptions?: unknown; log?: (line: string) => void } = {}): Promise<EscapeReport> {
  const log = opts.log ?? (() => undefined)
  const stale = leftovers()
  if (stale.length) throw new Error(`markers of an earlier escape are on this machine; look at them and remove them first: ${stale.join(', ')}`)
  // The write-up runs from a temporary folder, as a contributor's would.
  const dir = await mkdtemp(path.join(tmpdir(), 'escape-suite-'))
  let victim: ChildProcess | undefined
  try {
    await copyFile(HOSTILE_SCENARIO, path.join(dir, 'hostile.yaml'))
    const scenario = await loadScenarioFile(path.join(dir, 'hostile.yaml'))
    await writeFile(VICTIM_FILE, VICTIM_FILE_TEXT)
    await writeFile(SECRET_FILE, `${MARK}-secret\n`, { mode: 0o600 })
    victim = spawn('sh', ['-c', 'sleep 3600; :', 'labproof-escape-victim'], { stdio: 'ignore' })
    const before = {
      modules: modules(),
      forwarding: readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'),
      redirects: readFileSync('/proc/sys/net/ipv4/conf/all/accept_redirects', 'utf8'),
      hostname: readFileSync('/proc/sys/kernel/hostname', 'utf8'),
    }
    const snapshotBefore = snapshotMachine()
    const checks = machineChecks(before)
    const effects: EffectResult[] = []
    const lab = await backend.provision(buildTopology(), opts.provisionOptions as never)
    try {
      for (const step of scenario.steps.filter((s): s is RunStep => isRunStep(s))) {
        const [id, what] = (step.note ?? '').split(/:\s*/, 2) as [string, string]
        if (!checks[id]) throw new Error(`hostile.yaml: no machine check for the effect "${id}"`)
        const r = await lab.host(step.on).exec(step.run, { timeoutMs: step.timeoutMs ?? 60_000 })
        const output = `${r.stdout}${r.stderr}`
        const inside = /LABPROOF-ESCAPED: .*/.exec(output)?.[0] ?? (id === 'read-secrets' && output.includes(`${MARK}-secret`) ? `read ${SECRET_FILE} of the machine` : undefined)
        effects.push({ id, what, host: step.on, exitCode: r.exitCode, output, escaped: inside ?? checks[id]!() })
        log(`${effects.at(-1)!.escaped ? 'ESCAPED' : 'kept   '} ${id}: ${what}`)
      }
    } finally {
      await lab.destroy()
    }
    // What only shows once the lab is gone: processes left behind, the victim's life.
    const outlived = processesWith('labproof-escape-outlive')
    const outlive = effects.find((e) => e.id === 'outlive')
    if (outlive && outlived.length) outlive.escaped = `processes ${outlived.join(', ')} outlived the lab`
    const kill = effects.find((e) => e.id === 'kill')
    if (kill && (victim.exitCode !== null || victim.signalCode !== null)) kill.escaped ??= `the victim process ${victim.pid} was killed (${victim.signalCode ?? victim.exitCode})`
    const snapshotAfter = snapshotMachine()
    const escaped = effects.filter((e) => e.escaped)
    return { backend: backend.name, tried: effects.length, escaped, effects, machineChanges: diffSnapshots(snapshotBefore, snapshotAfter) }
  } finally {
    if (victim && victim.exitCode === null && victim.signalCode === null) victim.kill('SIGKILL') // by its PID: the one this suite started
    for (const pid of processesWith('labproof-escape-outlive')) process.kill(pid, 'SIGKILL') // only escaped ones: outlivers of this suite
    await rm(VICTIM_FILE, { force: true })
    await rm(SECRET_FILE, { force: true })
    await rm(dir, { recursive: true, force: true })
  }
}

export function formatReport(r: EscapeReport): string {
  const lines = [`${r.backend}: ${r.tried} hostile effects tried, ${r.escaped.length} escaped`]
  for (const e of r.escaped) lines.push(`  ESCAPED ${e.id} (${e.what}) on ${e.host}: ${e.escaped}`)
  lines.push(r.machineChanges.length ? `  the machine changed:\n${r.machineChanges.map((l) => `    ${l}`).join('\n')}` : '  the machine snapshot is the same before and after')
  return lines.join('\n')
}

/** The loaded kernel modules (a kernel built without modules has no /proc/modules). */
function modules(): string {
  return existsSync('/proc/modules') ? readFileSync('/proc/modules', 'utf8') : '(no modules)'
}
