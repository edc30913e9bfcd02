// Stop `labproof run` cleanly however it is stopped: SIGINT, SIGTERM or SIGHUP, its parent
// process going away (`timeout 6 npx labproof run`: npx is killed and labproof would run on as an
// orphan, its labs up), or its output closed (cli.ts).
//
// The labs live in this process (run/run-scenarios.ts). On the first of these, every lab that is
// up or on its way is destroyed (the runner registers how: onStop), whatever could not be removed
// in time is swept once this process is gone from it, and labproof exits 128 + the signal's
// number; nothing more is reported meanwhile. A second signal exits at once: netns nodes and VMs
// die with this process (pdeathsig), docker containers are removed by the next sweep.
// Killed with SIGKILL, nothing here runs: the same holds (what the soak's "tree" kill checks).
import { constants } from 'node:os'
import { cleanLeftovers } from '../cleanup.ts'

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
/** How often the parent process is looked for: Node cannot ask the kernel to be told. */
const PARENT_POLL_MS = 200
/** The docker backend gives a hung engine 10 s to remove a lab; a little more for all of them. */
const LABS_GRACE_MS = 15_000
const SWEEP_LIMIT_MS = 30_000
/** Read by the docker backend's own signal handler (docker-reaper.ts): this process exits by
 *  itself once its labs are removed, so the signal must not be raised again (that would be the
 *  "second signal" that exits at once). */
const HANDLES_ITS_EXIT = Symbol.for('labproof.runHandlesItsExit')

let runBackend = 'netns'
let stopping: string | undefined
let parentWatch: NodeJS.Timeout | undefined
let signalsReceived = 0
const stopHooks = new Set<() => Promise<unknown>>()

/** From here on, a signal, the parent's death or a closed output stops the run and removes its
 *  labs (call it before anything is provisioned). */
export function guardRun(backend: string): void {
  runBackend = backend
  ;(globalThis as { [HANDLES_ITS_EXIT]?: boolean })[HANDLES_ITS_EXIT] = true
  for (const s of SIGNALS) if (!process.listeners(s).includes(onSignal)) process.on(s, onSignal)
  const parent = process.ppid
  // Started by init (PID 1) already: there is no parent whose going could be noticed.
  if (!parentWatch && parent > 1) {
    parentWatch = setInterval(() => {
      if (process.ppid !== parent) stopRun(`its parent process (pid ${parent}) is gone`, 128 + constants.signals.SIGHUP)
    }, PARENT_POLL_MS).unref()
  }
}

/** What the run must do when it is stopped (destroy a lab that is up or on its way); returns a
 *  function that takes it back (the lab went down by itself). */
export function onStop(hook: () => Promise<unknown>): () => void {
  stopHooks.add(hook)
  return () => stopHooks.delete(hook)
}

/** Why the run is stopping, once it is: the runner reports nothing more from then on. */
export function stoppingBecause(): string | undefined {
  return stopping
}

function onSignal(signal: NodeJS.Signals): void {
  const code = 128 + (constants.signals[signal] ?? 0)
  // A second signal exits at once. A signal after the parent went away or the output closed is
  // the first one: `timeout` kills npx and signals labproof, in either order.
  if (signalsReceived++ > 0) {
    say(`labproof: ${signal} again: exiting now; \`labproof clean\` removes what is left\n`)
    process.exit(code)
  }
  if (stopping) say(`labproof: ${signal}: the run is already stopping (${stopping}); ${signal} again to exit at once\n`)
  else stopRun(signal, code)
}

/** Stop the run: its labs are destroyed, what they leave is swept, and labproof exits with
 *  `code`. Once only: later calls change nothing. */
export function stopRun(why: string, code: number): void {
  if (stopping) return
  stopping = why
  if (parentWatch) clearInterval(parentWatch)
  say(`\nlabproof: ${why}: stopping the run and removing its labs${why.startsWith('SIG') ? ` (${why} again to exit at once)` : ''}\n`)
  void tearDown().finally(() => process.exit(code))
}

/** stderr may be gone with the parent or the terminal: nothing to tell then. */
function say(text: string): void {
  try {
    process.stderr.write(text)
  } catch {
    // nobody is reading
  }
}

async function tearDown(): Promise<void> {
  const gaveUp = new Promise<'late'>((r) => setTimeout(() => r('late'), LABS_GRACE_MS).unref())
  const removed = Promise.allSettled([...stopHooks].map((hook) => hook()))
  if ((await Promise.race([removed, gaveUp])) === 'late') say(`labproof: the labs were not all removed within ${LABS_GRACE_MS / 1000} s: \`labproof clean\` removes what is left once this process is gone\n`)
  await sweep('after the interruption')
}

/** What earlier runs left behind (their owner is gone), as the sweep before a run does. */
async function sweep(when: string): Promise<void> {
  const swept = await Promise.race([
    cleanLeftovers({ engineBackends: [runBackend] }).catch((e: Error) => [`(the sweep failed: ${e.message})`]),
    new Promise<string[]>((r) => setTimeout(() => r(['(the sweep did not finish in time: run `labproof clean`)']), SWEEP_LIMIT_MS).unref()),
  ])
  if (swept.length) say(`labproof: removed ${when}:\n${swept.map((s) => `  ${s}`).join('\n')}\n`)
}
