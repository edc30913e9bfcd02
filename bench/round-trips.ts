// How many round trips to its hosts each scenario costs labproof: `npx tsx bench/round-trips.ts
// [ID...] [--backend netns]`. Each round trip is a request to a host's shell and its answer
// (about 12 ms on a quiet 2-core machine beyond what the command itself costs: bench/
// shell-roundtrip.ts), so their count is what the overhead per step is made of, and unlike a time
// it does not depend on the machine's load. Counted: single commands (host.exec) by what they are
// (capture start, mark, cut, end; the capability probe; the rest), and batches with the commands
// each carried (engine.ts beginBatch).
import { parseArgs } from 'node:util'
import { BaseHost } from '../harness/base-host.ts'
import { loadScenarios, selectScenarios } from '../harness/scenario/loader.ts'
import { runSession } from './session-timing.ts'

const { values, positionals } = parseArgs({ options: { backend: { type: 'string', default: 'netns' } }, allowPositionals: true })
const singles = new Map<string, number>()
let batches = 0
let batched = 0

function kind(cmd: string): string {
  const first = cmd.split('\n')[0]!
  // Capture requests name themselves on their first line (capture/tcpdump.ts).
  const capture = /^# labproof capture (start ahead|start|mark|cut|discard)\b/.exec(first)?.[1]
  if (capture) return `capture ${capture === 'discard' ? 'end' : capture}`
  if (first.startsWith('echo "release=')) return 'capability probe'
  return 'other command'
}

const exec = BaseHost.prototype.exec
BaseHost.prototype.exec = function (this: BaseHost, cmd, opts) {
  const k = kind(cmd)
  singles.set(k, (singles.get(k) ?? 0) + 1)
  return exec.call(this, cmd, opts)
}
const execBatch = BaseHost.prototype.execBatch
BaseHost.prototype.execBatch = function (this: BaseHost, commands) {
  batches++
  batched += commands.length
  return execBatch.call(this, commands)
}

for (const scenario of selectScenarios(await loadScenarios(), positionals)) {
  singles.clear()
  batches = batched = 0
  const r = await runSession(scenario, { backend: values.backend, jobs: 1 })
  const total = [...singles.values()].reduce((a, b) => a + b, 0) + batches
  const parts = [...singles].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} ${k}`)
  console.log(`${scenario.id}: ${r.passed} steps passed, ${r.failed} failed; ${total} round trips: ${batches} batches of ${batched} commands, ${parts.join(', ')}`)
}
