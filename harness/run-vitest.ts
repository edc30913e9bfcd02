// Run the scenarios through vitest's node API, and stop cleanly however the run is stopped:
// SIGINT, SIGTERM or SIGHUP, its parent process going away (`timeout 6 npx labproof run`: npx is
// killed and labproof would run on as an orphan, its labs up), or its output closed.
//
// Vitest's own handler exits the CLI at once. Its forked workers, where the labs live, are then
// cut off mid-step and end without running the backends' signal handlers: a docker lab would
// stay until the next sweep. Here the signal is forwarded to the workers instead: the docker
// backend removes its labs (docker-reaper.ts), netns nodes and qemu VMs die with their worker
// (pdeathsig). Then whatever a worker could not remove is swept (its owner is gone by then) and
// labproof exits 128 + the signal's number. A second signal exits at once.
import { readdirSync, readFileSync } from 'node:fs'
import { constants } from 'node:os'
import path from 'node:path'
import { cleanLeftovers } from './cleanup.ts'
import type { RunOptions } from './engine/run-options.ts'
import { PROVIDED_RUN } from './scenario/provided-run.ts'

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
/** How often the parent process is looked for: Node cannot ask the kernel to be told. */
const PARENT_POLL_MS = 200
/** The docker backend gives a hung engine 10 s; a little more for the worker to go. */
const WORKERS_GRACE_MS = 15_000
const SWEEP_LIMIT_MS = 30_000

export interface RunVitestOptions {
  /** The run's backend: what the sweep after an interruption has to look at. */
  backend: string
  /** Where the scenarios run (backend, options, matrix cell): handed to the workers. */
  run: RunOptions
  /** Write Allure results for the HTML report. */
  allure: boolean
  /** What must be done before the tests start (the sweep of dead runs' leftovers), which
   *  vitest's start overlaps; its failure fails the run before any test. */
  before?: Promise<unknown>
}

/** One vitest run of the scenarios' entry (scenarios/labs.test.ts, which runs the scenarios
 *  LABPROOF_SCENARIO_FILES names); true when a test failed or vitest could not run them. */
export async function runVitest(o: RunVitestOptions): Promise<boolean> {
  guardRun(o.backend)
  const [{ createVitest }, { runConfig, LABS_TEST_FILE }] = await loadVitest()
  // What startVitest would set before making the instance.
  process.env.TEST = 'true'
  process.env.VITEST = 'true'
  process.env.NODE_ENV ??= 'test'
  const theirs = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s))]))
  const vitest = await createVitest('test', await runConfig({ allure: o.allure }))
  vitest.provide(PROVIDED_RUN, o.run)
  try {
    await o.before
  } catch (e) {
    await vitest.close()
    throw e
  }
  // Stopped while vitest was loading: start nothing, the tear-down exits.
  if (stopping) await new Promise(() => {})
  // Vitest's logger added handlers that exit at once: this module handles those signals.
  for (const s of SIGNALS) for (const l of process.listeners(s)) if (!theirs.get(s)!.has(l) && l !== onSignal) process.off(s, l)
  let failed = false
  try {
    await vitest.start([LABS_TEST_FILE])
  } catch (e) {
    failed = true
    process.stderr.write(`labproof: vitest could not run the scenarios: ${(e as Error).message ?? String(e)}\n`)
  } finally {
    await vitest.close()
  }
  // Interrupted: the tear-down exits when it is done; report nothing more meanwhile.
  if (stopping) await new Promise(() => {})
  await endStrayWorkers()
  return failed || vitest.state.getCountOfFailedTests() > 0 || (process.exitCode ?? 0) !== 0
}

type VitestModules = Promise<[typeof import('vitest/node'), typeof import('./run-vitest-config.ts')]>
let vitestModules: VitestModules | undefined

/** Vitest's node API and the run's config, loaded once. `labproof run` starts loading them
 *  while it checks the machine and sweeps (I/O waits), so vitest's start overlaps them. */
export function loadVitest(): VitestModules {
  vitestModules ??= Promise.all([import('vitest/node'), import('./run-vitest-config.ts')])
  return vitestModules
}

let runBackend = 'netns'
let stopping: string | undefined
let parentWatch: NodeJS.Timeout | undefined

/** From here on, a signal, the parent's death or a closed output stops the run and removes its
 *  labs (call it before anything is provisioned; runVitest calls it too). */
export function guardRun(backend: string): void {
  runBackend = backend
  for (const s of SIGNALS) if (!process.listeners(s).includes(onSignal)) process.on(s, onSignal)
  const parent = process.ppid
  // Started by init (PID 1) already: there is no parent whose going could be noticed.
  if (!parentWatch && parent > 1) {
    parentWatch = setInterval(() => {
      if (process.ppid !== parent) stopRun(`its parent process (pid ${parent}) is gone`, 128 + constants.signals.SIGHUP, 'SIGTERM')
    }, PARENT_POLL_MS).unref()
  }
}

let signalsReceived = 0

function onSignal(signal: NodeJS.Signals): void {
  const code = 128 + (constants.signals[signal] ?? 0)
  // A second signal exits at once. A signal after the parent went away or the output closed is
  // the first one: `timeout` kills npx and signals labproof, in either order.
  if (signalsReceived++ > 0) {
    say(`labproof: ${signal} again: exiting now; \`labproof clean\` removes what is left\n`)
    process.exit(code)
  }
  if (stopping) say(`labproof: ${signal}: the run is already stopping (${stopping}); ${signal} again to exit at once\n`)
  else stopRun(signal, code, signal)
}

/** Stop the run: its workers get `forward` and remove their labs, what they leave is swept,
 *  and labproof exits with `code`. Once only: later calls change nothing. */
export function stopRun(why: string, code: number, forward: NodeJS.Signals = 'SIGTERM'): void {
  if (stopping) return
  stopping = why
  if (parentWatch) clearInterval(parentWatch)
  say(`\nlabproof: ${why}: stopping the run and removing its labs${why.startsWith('SIG') ? ` (${why} again to exit at once)` : ''}\n`)
  void tearDown(forward).finally(() => process.exit(code))
}

/** stderr may be gone with the parent or the terminal: nothing to tell then. */
function say(text: string): void {
  try {
    process.stderr.write(text)
  } catch {
    // nobody is reading
  }
}

async function tearDown(signal: NodeJS.Signals): Promise<void> {
  await endChildren(signal)
  await sweep('after the interruption')
}

/** Signals this process's children with `signal` and gives them WORKERS_GRACE_MS to end (their
 *  backends remove their labs), then SIGKILLs what is left (of `only`, when given). Vitest may still be starting its
 *  workers: each child is signalled as it appears, until none is left running (a zombie is not
 *  running: it waits only for this process to reap it). */
async function endChildren(signal: NodeJS.Signals, only?: number[]): Promise<void> {
  const signalled = new Set<number>()
  const deadline = Date.now() + WORKERS_GRACE_MS
  const ours = (pid: number) => isRunning(pid) && (!only || only.includes(pid))
  for (;;) {
    const running = childPids(process.pid).filter(ours)
    for (const pid of running) if (!signalled.has(pid)) { signalled.add(pid); signalPid(pid, signal) }
    if (running.length === 0 || Date.now() > deadline) break
    await new Promise((r) => setTimeout(r, 50))
  }
  for (const pid of childPids(process.pid).filter(ours)) signalPid(pid, 'SIGKILL')
}

/** Whatever the ended workers could not remove: their owner is gone, so the sweep takes it. */
async function sweep(when: string): Promise<void> {
  const swept = await Promise.race([
    cleanLeftovers({ engineBackends: [runBackend] }).catch((e: Error) => [`(the sweep failed: ${e.message})`]),
    new Promise<string[]>((r) => setTimeout(() => r(['(the sweep did not finish in time: run `labproof clean`)']), SWEEP_LIMIT_MS).unref()),
  ])
  if (swept.length) say(`labproof: removed ${when}:\n${swept.map((s) => `  ${s}`).join('\n')}\n`)
}

/** Once vitest is closed, its workers have ended, unless one did not answer vitest's stop (under
 *  heavy load vitest gives up after 60 s and leaves it running, and its IPC channel would keep
 *  labproof from ever exiting). Every test has its verdict by then: such a worker is stopped
 *  here as on SIGTERM, what it could not remove is swept, and the run's result stands. */
async function endStrayWorkers(): Promise<void> {
  const stray = childPids(process.pid).filter((pid) => isRunning(pid) && isVitestWorker(pid))
  if (stray.length === 0) return
  say(`labproof: vitest's worker ${stray.join(', ')} did not end after the run: stopping it (SIGTERM, then SIGKILL after ${WORKERS_GRACE_MS / 1000} s)\n`)
  await endChildren('SIGTERM', stray)
  await sweep('after the worker was stopped')
}

/** A forked vitest worker (not, say, esbuild's service, which vite starts and unrefs). */
function isVitestWorker(pid: number): boolean {
  return safeRead(`/proc/${pid}/cmdline`).split('\0').some((arg) => arg.includes(`${path.sep}vitest${path.sep}`))
}

/** Alive and not a zombie. */
function isRunning(pid: number): boolean {
  const stat = safeRead(`/proc/${pid}/stat`)
  // The state is the field after the command name, which is in parentheses and may hold spaces.
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
}

/** This process's children: vitest's workers (and any tool it started). */
function childPids(pid: number): number[] {
  const pids = new Set<number>()
  for (const task of safeReaddir(`/proc/${pid}/task`)) {
    const text = safeRead(`/proc/${pid}/task/${task}/children`)
    for (const p of text.trim().split(/\s+/)) if (/^\d+$/.test(p)) pids.add(Number(p))
  }
  return [...pids]
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // gone already
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}
