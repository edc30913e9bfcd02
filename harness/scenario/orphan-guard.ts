// A vitest worker running scenarios (`npm test`, or a suite that binds scenarios) whose parent is
// gone (`vitest` killed with SIGKILL) would run its current step on, its labs up, until it next
// reports and finds no one to report to. When the IPC channel to the parent closes, the worker
// signals itself instead: the docker backend removes its labs (docker-reaper.ts), netns nodes
// and VMs die with the worker (pdeathsig).
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

