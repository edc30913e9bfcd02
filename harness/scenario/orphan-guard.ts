// A vitest worker whose parent is gone (the CLI or `vitest` killed with SIGKILL) would run its
// current step on, its labs up, until it next reports and finds no one to report to. When the
// IPC channel to the parent closes, the worker signals itself instead: the docker backend
// removes its labs (docker-reaper.ts), netns nodes and VMs die with the worker (pdeathsig).
// Loaded as a vitest setup file, so it is in every worker.
const GUARD = Symbol.for('labproof.orphanGuard')
const state = globalThis as { [GUARD]?: true }

if (!state[GUARD] && process.send && process.connected) {
  state[GUARD] = true
  process.once('disconnect', () => {
    // Nobody reads the worker's output or messages any more. Neither a write (EPIPE) nor vitest's
    // exit on a message it cannot send may end the worker before its labs are removed.
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
    process.removeAllListeners('error')
    process.on('error', () => {})
    process.kill(process.pid, 'SIGTERM')
  })
}

// labproof's own test of a worker that does not answer vitest's stop (interrupts.test.ts): the
// worker holds its event loop when the stop comes, as one overwhelmed by load would.
if (process.env.LABPROOF_TEST_WORKER_IGNORES_STOP === '1' && process.send) {
  process.on('message', (m: unknown) => {
    if ((m as { type?: unknown } | null)?.type === 'stop') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 90_000)
  })
}
