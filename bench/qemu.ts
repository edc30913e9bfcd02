// `npm run bench -- --qemu`: where a qemu lab's time goes, per kernel, and what a person waits
// for. Phases: the first lab on a kernel (a boot, the capability probe, the save, then its own
// restore), a later lab (restore only), and what one command costs on a guest as its own SSH
// exec, through one long-lived session (ssh-session.ts), and in a batch of ten through it; the
// phases keep their saves for the bench only (the first lab boots whatever is kept). Runs:
// `labproof run namespace-routing veth-bridge-nat --backend qemu --kernel K` per kernel, and with
// --qemu-matrix every scenario on every kernel given, as one run: each twice, first on an empty
// cache of saved pairs (its boots included), then again on the saves that first run kept.
// Written to <out>/<name>-qemu.{md,json}.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Lab } from '../harness/lab.ts'
import { SshHost } from '../harness/backends/shared/ssh-host.ts'
import { buildTopology } from '../harness/topology.ts'
import { runCli } from './cli-timing.ts'
import { currentLoad } from './machine.ts'
import { spread, type Spread } from './stats.ts'

export interface QemuKernelPhases {
  kernel: string
  accel: string
  /** The first lab on the kernel, provisioned: boot, probe, save, restore, ssh, host wiring. */
  firstLabMs: number
  /** How the first lab started, in the backend's words (boot and restore seconds). */
  firstStart: string
  /** Later labs on the kernel, provisioned from the save. */
  restoredLabMs: Spread
  restoredStart: string
  /** One command (`true`) on a guest: a new SSH exec channel each, against one session. */
  execCommandMs: Spread
  sessionCommandMs: Spread
  /** A batch of ten `true` through the session, per command. */
  batchCommandMs: Spread
  destroyMs: Spread
  /** Load averages (1, 5, 15 min) before and after. */
  loadBefore: number[]
  loadAfter: number[]
}

const log = (line: string) => process.stderr.write(`[bench qemu] ${line}\n`)

/** A run through the CLI (node_modules/.bin/labproof), timed from its start to its exit. */
export interface QemuCliRun {
  what: string
  /** Boots on an empty cache of saved pairs, or restores from the saves a first run kept. */
  saves?: 'empty' | 'kept'
  command: string
  ms: number
  exitCode: number
  tests: string
  loadBefore: number[]
}

/** The pair of issue 13 on each kernel, and with `matrix` every scenario on every kernel as one
 *  run: each on an empty cache of saved pairs, then on what that run kept. */
export async function benchQemuRuns(kernels: string[], opts: { matrix?: boolean } = {}): Promise<QemuCliRun[]> {
  const runs: { what: string; args: string[] }[] = [
    ...kernels.map((k) => ({ what: `namespace-routing + veth-bridge-nat, kernel ${k}`, args: ['namespace-routing', 'veth-bridge-nat', '--kernel', k] })),
    ...(opts.matrix ? [{ what: `every scenario, kernels ${kernels.join(', ')}`, args: ['--kernel', kernels.join(',')] }] : []),
  ]
  const results: QemuCliRun[] = []
  for (const { what, args } of runs) {
    const cache = await mkdtemp(path.join(tmpdir(), 'labproof-bench-saved-'))
    try {
      for (const saves of ['empty', 'kept'] as const) {
        const loadBefore = currentLoad()
        log(`${what}, saves ${saves}: labproof run ${args.join(' ')} --backend qemu`)
        const r = await runCli(args, 'qemu', { LABPROOF_QEMU_SAVED_CACHE: cache }, 'bin')
        log(`${what}, saves ${saves}: ${(r.ms / 1000).toFixed(1)} s, exit ${r.exitCode}, ${r.tests}`)
        results.push({ what, saves, command: `labproof run ${args.join(' ')} --backend qemu`, ms: r.ms, exitCode: r.exitCode, tests: r.tests, loadBefore })
      }
    } finally {
      await rm(cache, { recursive: true, force: true })
    }
  }
  return results
}

/** Time the phases on each kernel; `restores` later labs, `commands` commands each way. */
export async function benchQemu(kernels: string[], opts: { restores?: number; commands?: number } = {}): Promise<QemuKernelPhases[]> {
  const { qemuBackend } = await import('../harness/backends/qemu/qemu.ts')
  // Saves for the bench only: the first lab on each kernel boots, whatever earlier runs kept.
  process.env.LABPROOF_QEMU_SAVED_CACHE = 'off'
  const topology = buildTopology()
  const results: QemuKernelPhases[] = []
  for (const kernel of kernels) {
    const loadBefore = currentLoad()
    const provision = async () => {
      const t0 = performance.now()
      const lab = await qemuBackend.provision(topology, { kernel })
      return { lab, ms: performance.now() - t0 }
    }
    const destroyed: number[] = []
    const destroy = async (lab: Lab) => {
      const t0 = performance.now()
      await lab.destroy()
      destroyed.push(performance.now() - t0)
    }
    log(`kernel ${kernel}: first lab (boot, probe, save, restore)`)
    const first = await provision()
    log(`kernel ${kernel}: first lab in ${(first.ms / 1000).toFixed(1)} s (${first.lab.facts?.start})`)
    const host = first.lab.hosts.get(topology.hosts[0]!.name) as SshHost
    const n = opts.commands ?? 30
    const exec: number[] = []
    const session: number[] = []
    await host.succeed('true') // the session is started here, not in the first timed command
    for (let i = 0; i < n; i++) {
      // Alternated, so drift in the machine's load hits both.
      let t0 = performance.now()
      const a = await host.connection.run('true', { timeoutMs: 60_000 })
      exec.push(performance.now() - t0)
      t0 = performance.now()
      const b = await host.exec('true', { timeoutMs: 60_000 })
      session.push(performance.now() - t0)
      if (a.exitCode !== 0 || b.exitCode !== 0) throw new Error(`bench qemu: \`true\` failed on ${host.name}: ${a.stderr}${b.stderr}`)
    }
    const batched: number[] = []
    for (let i = 0; i < Math.max(3, Math.round(n / 10)); i++) {
      const t0 = performance.now()
      const rs = await Promise.all(host.execBatch(Array.from({ length: 10 }, () => ({ cmd: 'true', goOn: 0, timeoutMs: 60_000 }))).results)
      batched.push((performance.now() - t0) / 10)
      if (rs.some((r) => r?.exitCode !== 0)) throw new Error(`bench qemu: a batch of \`true\` failed on ${host.name}`)
    }
    if ((await host.transport()) !== 'session') throw new Error(`bench qemu: ${host.name} ran its commands without a session`)
    log(`kernel ${kernel}: a command as an exec ${median(exec)} ms, through the session ${median(session)} ms, in a batch of ten ${median(batched)} ms (medians of ${n}, ${n}, ${batched.length})`)
    await destroy(first.lab)
    const restored: number[] = []
    let restoredStart = ''
    for (let i = 0; i < (opts.restores ?? 3); i++) {
      const later = await provision()
      restored.push(later.ms)
      restoredStart = String(later.lab.facts?.start ?? '')
      log(`kernel ${kernel}: later lab ${i + 1} in ${(later.ms / 1000).toFixed(1)} s (${restoredStart})`)
      await destroy(later.lab)
    }
    results.push({
      kernel,
      accel: String(first.lab.facts?.accel ?? ''),
      firstLabMs: first.ms,
      firstStart: String(first.lab.facts?.start ?? ''),
      restoredLabMs: spread(restored),
      restoredStart,
      execCommandMs: spread(exec),
      sessionCommandMs: spread(session),
      batchCommandMs: spread(batched),
      destroyMs: spread(destroyed),
      loadBefore,
      loadAfter: currentLoad(),
    })
  }
  return results
}

function median(xs: number[]): string {
  return spread(xs).median.toFixed(1)
}

export async function writeQemuPhases(out: string, name: string, phases: QemuKernelPhases[], runs: QemuCliRun[] = []): Promise<void> {
  await mkdir(out, { recursive: true })
  const s = (x: number) => `${(x / 1000).toFixed(1)} s`
  const sp = (x: Spread, unit: 's' | 'ms') => unit === 's'
    ? `${s(x.median)} (${s(x.min)}–${s(x.max)})`
    : `${x.median.toFixed(1)} ms (${x.min.toFixed(1)}–${x.max.toFixed(1)})`
  const md = [
    '# qemu phases (`npm run bench -- --qemu`)', '',
    '| kernel | accel | first lab (boot, probe, save, restore) | later lab (restore) | a command as an SSH exec | a command through the session | a command in a batch of ten | destroy | load 1/5/15 min before → after |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...phases.map((p) => `| ${p.kernel} | ${p.accel} | ${s(p.firstLabMs)} | ${sp(p.restoredLabMs, 's')} | ${sp(p.execCommandMs, 'ms')} | ${sp(p.sessionCommandMs, 'ms')} | ${sp(p.batchCommandMs, 'ms')} | ${sp(p.destroyMs, 's')} | ${p.loadBefore.map((l) => l.toFixed(1)).join('/')} → ${p.loadAfter.map((l) => l.toFixed(1)).join('/')} |`),
    '', ...phases.map((p) => `- ${p.kernel}: first lab ${p.firstStart}; a later lab ${p.restoredStart}`), '',
    ...(runs.length ? [
      '## Runs through the CLI (`node_modules/.bin/labproof`)', '',
      'Each run twice: on an empty cache of saved pairs (every kernel booted, probed and saved: a first run), then on the saves that run kept (a later run).', '',
      '| run | saved pairs | command | wall time | exit | tests | load 1/5/15 min before |', '| --- | --- | --- | ---: | ---: | --- | ---: |',
      ...runs.map((r) => `| ${r.what} | ${r.saves === 'kept' ? 'kept by the run before' : r.saves === 'empty' ? 'none (boots)' : 'for the run only (boots)'} | \`${r.command}\` | ${s(r.ms)} | ${r.exitCode} | ${r.tests} | ${r.loadBefore.map((l) => l.toFixed(1)).join('/')} |`), '',
    ] : []),
  ].join('\n')
  await writeFile(path.join(out, `${name}-qemu.md`), md)
  await writeFile(path.join(out, `${name}-qemu.json`), `${JSON.stringify({ phases, runs }, (_k, v) => (typeof v === 'number' ? Math.round(v * 10) / 10 : v), 2)}\n`)
}
