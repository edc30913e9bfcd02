// The command line as a user waits for it: `labproof list`, and `labproof run [ID...]` with
// the CLI's start and the reporters included. Results go to a temporary directory.
//
// Run on its own (`npm run bench:cli`, after a build) it measures issue 17's two CLI targets:
//   list      `node bin/labproof.js list` (the bin as node_modules/.bin/labproof runs it),
//             min and median: at most 0.25 s
//   overhead  `npx labproof run ID` (and the bin without npx) against the scenario's own session
//             (ScenarioEngine start..stop in this process, as the bench's "labproof s" column),
//             alternating, median of each: at most 1.0 s
//   suite     with --suite: `node bin/labproof.js run --backend B` (every default scenario),
//             its wall time and CPU: the whole process tree and the CLI process itself (which
//             drives every engine; sampled from /proc every 100 ms), medians of --reps runs
//   npm run bench:cli -- [--reps 5] [--scenario namespace-routing] [--backend netns] [--no-run] [--suite]
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { runProcess } from '../harness/local-process.ts'
import { cpuMs } from './cpu.ts'

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url))
const BIN = path.join(PACKAGE_DIR, 'bin', 'labproof.js')
const CLI_TIMEOUT_MS = 1_800_000

export interface CliRun {
  ms: number
  /** CPU time of the whole process tree. */
  cpuMs: number
  exitCode: number
  /** vitest's summary line: "308 passed | 40 skipped (348)". */
  tests: string
  /** The end of the output when the run failed. */
  failure?: string
}

/** How the command is started: through npx (what the target names), or the bin itself
 *  with node (what node_modules/.bin/labproof is; npx adds its own start-up). */
export type Launcher = 'npx' | 'bin'

function command(launcher: Launcher, args: string[]): [string, string[]] {
  return launcher === 'npx' ? ['npx', ['labproof', ...args]] : [process.execPath, [BIN, ...args]]
}

export async function runCli(ids: string[], backend: string, env: Record<string, string> = {}, launcher: Launcher = 'npx'): Promise<CliRun> {
  const out = await mkdtemp(path.join(tmpdir(), 'labproof-bench-'))
  try {
    const started = performance.now()
    const cpu0 = cpuMs()
    const [file, args] = command(launcher, ['run', ...ids, '--backend', backend])
    const r = await runProcess(file, args, {
      timeoutMs: CLI_TIMEOUT_MS,
      env: { LABPROOF_OUTPUT_DIR: out, NO_COLOR: '1', FORCE_COLOR: '0', ...env },
    })
    const ms = performance.now() - started
    const cpu = cpuMs() - cpu0
    const text = r.stdout + r.stderr
    const tests = /^\s*Tests\s+(.+)$/m.exec(text)?.[1]?.trim() ?? '?'
    return { ms, cpuMs: cpu, exitCode: r.exitCode, tests, ...(r.exitCode !== 0 ? { failure: text.slice(-2000) } : {}) }
  } finally {
    await rm(out, { recursive: true, force: true })
  }
}

/** One `labproof list` (every default scenario), as the bin runs it. */
export async function timeList(): Promise<{ ms: number; cpuMs: number }> {
  const started = performance.now()
  const cpu0 = cpuMs()
  const [file, args] = command('bin', ['list'])
  const r = await runProcess(file, args, { timeoutMs: 120_000 })
  if (r.exitCode !== 0) throw new Error(`labproof list exited ${r.exitCode}: ${r.stderr.slice(-500)}`)
  return { ms: performance.now() - started, cpuMs: cpuMs() - cpu0 }
}

export { PACKAGE_DIR }

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main()

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      reps: { type: 'string', default: '5' },
      scenario: { type: 'string', default: 'namespace-routing' },
      backend: { type: 'string', default: 'netns' },
      'no-run': { type: 'boolean', default: false },
      suite: { type: 'boolean', default: false },
    },
  })
  const reps = Math.max(1, Number(values.reps) || 5)
  const { spread } = await import('./stats.ts')
  const { currentLoad } = await import('./machine.ts')
  const s = (ms: number) => (ms / 1000).toFixed(2)
  const line = (label: string, xs: number[]) => {
    const d = spread(xs)
    process.stdout.write(`${label.padEnd(34)} min ${s(d.min)} s  median ${s(d.median)} s  max ${s(d.max)} s  (n=${d.n})\n`)
    return d
  }
  process.stdout.write(`load average at start: ${currentLoad()}\n`)
  if (values.suite) {
    const runs: SuiteRun[] = []
    for (let i = 0; i < reps; i++) runs.push(await timeSuite(values.backend))
    process.stdout.write(`labproof run --backend ${values.backend}: ${runs[0]!.tests}\n`)
    line('suite (wall)', runs.map((r) => r.ms))
    line('suite CPU, every process', runs.map((r) => r.cpuMs))
    line('suite CPU, the CLI process', runs.map((r) => r.cliCpuMs))
    process.stdout.write(`load average at end: ${currentLoad()}\n`)
    return
  }
  const bare = await timeNodeStart(reps)
  line('node -e 0', bare)
  await timeList() // warms the parse cache and the page cache, as a second `list` finds them
  const lists: { ms: number; cpuMs: number }[] = []
  for (let i = 0; i < reps; i++) lists.push(await timeList())
  line('labproof list (wall)', lists.map((l) => l.ms))
  line('labproof list (CPU)', lists.map((l) => l.cpuMs))
  if (values['no-run']) return

  const { loadScenarios, selectScenarios } = await import('../harness/scenario/loader.ts')
  const { runOptionsFromEnv } = await import('../harness/engine/run-options.ts')
  const { runSession } = await import('./session-timing.ts')
  const [scenario] = selectScenarios(await loadScenarios(), [values.scenario])
  const opts = { ...runOptionsFromEnv({ ...process.env, LABPROOF_BACKEND: values.backend }), backend: values.backend }
  await runSession(scenario!, opts) // warm-up, untimed
  const sessions: number[] = []
  const runs: Record<Launcher, number[]> = { npx: [], bin: [] }
  for (let i = 0; i < reps; i++) {
    sessions.push((await runSession(scenario!, opts)).totalMs)
    for (const launcher of ['npx', 'bin'] as const) {
      const r = await runCli([scenario!.id], values.backend, {}, launcher)
      if (r.exitCode !== 0) throw new Error(`labproof run ${scenario!.id} (${launcher}) exited ${r.exitCode}:\n${r.failure}`)
      runs[launcher].push(r.ms)
    }
  }
  const session = line(`session ${scenario!.id}`, sessions)
  const npx = line(`npx labproof run ${scenario!.id}`, runs.npx)
  const bin = line(`node bin/labproof.js run ${scenario!.id}`, runs.bin)
  process.stdout.write(`overhead (median run - median session): npx ${s(npx.median - session.median)} s, bin ${s(bin.median - session.median)} s\n`)
  process.stdout.write(`load average at end: ${currentLoad()}\n`)
}

async function timeNodeStart(reps: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < reps; i++) {
    const started = performance.now()
    await runProcess(process.execPath, ['-e', '0'], { timeoutMs: 60_000 })
    out.push(performance.now() - started)
  }
  return out
}

export interface SuiteRun {
  ms: number
  /** The whole process tree (what the CLI waited for included). */
  cpuMs: number
  /** The CLI process alone (not what it ran in the hosts). */
  cliCpuMs: number
  tests: string
}

/** One `labproof run --backend B` of every default scenario, as the bin runs it, with the CPU
 *  of the CLI process read from /proc while it runs (its last 100 ms are missed). */
export async function timeSuite(backend: string): Promise<SuiteRun> {
  const out = await mkdtemp(path.join(tmpdir(), 'labproof-bench-suite-'))
  try {
    const started = performance.now()
    const cpu0 = cpuMs()
    const child = spawn(process.execPath, [BIN, 'run', '--backend', backend], {
      env: { ...process.env, LABPROOF_OUTPUT_DIR: out, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let text = ''
    child.stdout.on('data', (d) => (text += String(d)))
    child.stderr.on('data', (d) => (text += String(d)))
    let cliCpuMs = 0
    const look = () => {
      cliCpuMs = ownCpuMs(child.pid!) ?? cliCpuMs
    }
    const timer = setInterval(look, 100)
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)))
    clearInterval(timer)
    if (code !== 0) throw new Error(`labproof run --backend ${backend} exited ${code}:\n${text.slice(-2000)}`)
    return {
      ms: performance.now() - started,
      cpuMs: cpuMs() - cpu0,
      cliCpuMs,
      tests: /^\s*Tests\s+(.+)$/m.exec(text)?.[1]?.trim() ?? '?',
    }
  } finally {
    await rm(out, { recursive: true, force: true })
  }
}

/** A process's own CPU time (user + system, not its children's). */
function ownCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
  } catch {
    return undefined
  }
}
