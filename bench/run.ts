// `npm run bench`: what labproof costs on top of the lab itself, per scenario and backend.
//
//   npm run bench -- [--reps 5] [--backend netns]... [--qemu] [--scenario ID]... [--no-cli]
//                    [--no-suite] [--no-sessions] [--out bench/results] [--name latest]
//                    [--kernel 6.1,5.10]   (with --qemu: bench/qemu.ts's VM phases and the
//                    namespace-routing + veth-bridge-nat run per kernel; --qemu-matrix: and
//                    every scenario on every kernel as one run)
//
// Per scenario: provisioning, the scenario through ScenarioEngine, its floor (the document
// commands alone as plain scripts), the floor with its checks' own commands (what the claims'
// evidence costs by itself), their ratios and the overhead per step, and the scenario through
// `npx labproof run ID`; per backend: the whole suite through `npx labproof run`. Sessions and
// floors run one at a time, in turns, so drift in the machine's load hits each.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { loadScenarios, selectScenarios, type LoadedScenario } from '../harness/scenario/loader.ts'
import { runOptionsFromEnv } from '../harness/engine/run-options.ts'
import { planSteps } from '../harness/scenario/plan.ts'
import { availableBackends } from './backends.ts'
import { PACKAGE_DIR, runCli } from './cli-timing.ts'
import { compareFloor, type FloorMismatch } from './floor-check.ts'
import { floorCommands, floorWithChecksCommands, type FloorCommand } from './floor-script.ts'
import { runFloor, type FloorRun } from './floor.ts'
import { currentLoad, machineFacts } from './machine.ts'
import { toMarkdown, type BackendResult, type BenchResults, type ScenarioResult } from './report.ts'
import { runSession, type SessionRun } from './session-timing.ts'
import { spread } from './stats.ts'

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    backend: { type: 'string', multiple: true },
    qemu: { type: 'boolean', default: false },
    // With --qemu: also every scenario on every --kernel as one run (minutes under TCG).
    'qemu-matrix': { type: 'boolean', default: false },
    scenario: { type: 'string', multiple: true },
    'no-cli': { type: 'boolean', default: false },
    'no-suite': { type: 'boolean', default: false },
    'no-sessions': { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(PACKAGE_DIR, 'bench', 'results') },
    name: { type: 'string', default: 'latest' },
    // With --qemu: the kernels whose VM phases bench/qemu.ts times (boot, restore, a command).
    kernel: { type: 'string', default: '6.1' },
  },
})
const reps = Math.max(1, Number(values.reps) || 5)
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`)
process.chdir(PACKAGE_DIR)

const machine = await machineFacts()
const scenarios = selectScenarios(await loadScenarios(), values.scenario ?? [])
const backends = await availableBackends({ also: values.qemu ? ['qemu'] : [], ...(values.backend ? { only: values.backend } : {}) })
const results: BenchResults = {
  machine,
  command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
  notes: [],
  backends: [],
  skippedBackends: backends.filter((b) => !b.available).map(({ backend, detail }) => ({ backend, detail })),
}
for (const s of results.skippedBackends) log(`${s.backend}: not measured (${s.detail})`)
const measuredNow = new Set(backends.filter((b) => b.available).map((b) => b.backend))
if (values.qemu && backends.some((b) => b.backend === 'qemu' && b.available)) {
  const { benchQemu, benchQemuRuns, writeQemuPhases } = await import('./qemu.ts')
  const kernels = values.kernel.split(',')
  const phases = await benchQemu(kernels)
  await writeQemuPhases(values.out, values.name, phases, await benchQemuRuns(kernels, { matrix: values['qemu-matrix'] }))
}

for (const { backend, detail } of backends.filter((b) => b.available)) {
  const result: BackendResult = { backend, detail, reps, scenarios: [], suiteFailures: [] }
  results.backends.push(result)
  const opts = { ...runOptionsFromEnv({ ...process.env, LABPROOF_BACKEND: backend }), backend }

  // Warm-up (untimed): which steps run here, hence the floors' commands, and a check that they
  // exit as labproof's did.
  const floors = new Map<string, FloorPlan>()
  for (const s of values['no-sessions'] ? [] : scenarios) {
    log(`${backend} ${s.id}: warm-up`)
    const session = await runSession(s, opts)
    const [plan, ran] = [planSteps(s), (n: number) => session.ran.has(n)]
    const commands = floorCommands(plan, ran)
    const withChecks = floorWithChecksCommands(plan, ran, session.transcripts)
    const mismatches = [
      ...compareFloor(commands, (await runFloor(s, commands, backend)).exitCodes, session.transcripts),
      ...compareFloor(withChecks, (await runFloor(s, withChecks, backend)).exitCodes, session.transcripts).map((m) => ({ ...m, withChecks: true as const })),
    ]
    floors.set(s.id, { commands, withChecks, mismatches, ...(session.failure ? { failure: session.failure } : {}) })
  }

  const sessions = new Map<string, SessionRun[]>(scenarios.map((s) => [s.id, []]))
  const floorRuns = new Map<string, FloorRun[]>(scenarios.map((s) => [s.id, []]))
  const withChecksRuns = new Map<string, FloorRun[]>(scenarios.map((s) => [s.id, []]))
  for (let rep = 0; rep < (values['no-sessions'] ? 0 : reps); rep++) {
    for (const s of scenarios) {
      const { commands, withChecks } = floors.get(s.id)!
      // Each goes first in turn, so none always runs on a machine another just warmed.
      const runs = [
        async () => void sessions.get(s.id)!.push(await runSession(s, opts)),
        async () => void floorRuns.get(s.id)!.push(await runFloor(s, commands, backend)),
        async () => void withChecksRuns.get(s.id)!.push(await runFloor(s, withChecks, backend)),
      ]
      for (let i = 0; i < runs.length; i++) await runs[(rep + i) % runs.length]!()
      const last = sessions.get(s.id)!.at(-1)!
      log(`${backend} ${s.id} rep ${rep + 1}/${reps}: labproof ${ms(last.totalMs)} (CPU ${ms(last.cpuMs)}), floor ${ms(floorRuns.get(s.id)!.at(-1)!.totalMs)}, ` +
        `floor with checks ${ms(withChecksRuns.get(s.id)!.at(-1)!.totalMs)}`)
    }
  }

  const cli = new Map<string, number[]>(scenarios.map((s) => [s.id, []]))
  const cliCpu = new Map<string, number[]>(scenarios.map((s) => [s.id, []]))
  const cliFailures = new Map<string, string[]>(scenarios.map((s) => [s.id, []]))
  if (!values['no-cli']) {
    for (let rep = 0; rep < reps; rep++) {
      for (const s of scenarios) {
        const r = await runCli([s.id], backend)
        cli.get(s.id)!.push(r.ms)
        cliCpu.get(s.id)!.push(r.cpuMs)
        if (r.exitCode !== 0) cliFailures.get(s.id)!.push(`npx labproof run ${s.id} exited ${r.exitCode}: ${r.failure?.slice(-300)}`)
        log(`${backend} ${s.id} CLI rep ${rep + 1}/${reps}: ${ms(r.ms)}, CPU ${ms(r.cpuMs)} (${r.tests})`)
      }
    }
  }

  for (const s of values['no-sessions'] ? [] : scenarios) {
    result.scenarios.push(summarize(s, sessions.get(s.id)!, floorRuns.get(s.id)!, withChecksRuns.get(s.id)!, floors.get(s.id)!, cli.get(s.id)!, cliCpu.get(s.id)!, cliFailures.get(s.id)!))
  }

  if (!values['no-suite']) {
    const suite: number[] = []
    const suiteCpu: number[] = []
    for (let rep = 0; rep < reps; rep++) {
      const r = await runCli(values.scenario ?? [], backend)
      suite.push(r.ms)
      suiteCpu.push(r.cpuMs)
      result.suiteTests = r.tests
      if (r.exitCode !== 0) result.suiteFailures.push(`npx labproof run exited ${r.exitCode}: ${r.failure?.slice(-300)}`)
      log(`${backend} suite rep ${rep + 1}/${reps}: ${ms(r.ms)}, CPU ${ms(r.cpuMs)} (${r.tests})`)
    }
    result.suiteMs = spread(suite)
    result.suiteCpuMs = spread(suiteCpu)
  }
  await write(results)
}
machine.loadAtEnd = currentLoad()
await write(results)
log(`wrote ${path.join(values.out, `${values.name}.md`)} and .json`)

/** A scenario's floors, made once from its warm-up session. */
interface FloorPlan {
  commands: FloorCommand[]
  withChecks: FloorCommand[]
  mismatches: FloorMismatch[]
  failure?: string
}

function summarize(s: LoadedScenario, sessions: SessionRun[], floors: FloorRun[], withChecks: FloorRun[], floor: FloorPlan, cli: number[], cliCpu: number[], cliFailures: string[]): ScenarioResult {
  const ran = sessions[0]?.passed ?? 0
  const pairs = sessions.map((x, i) => [x.totalMs, floors[i]!.totalMs] as const)
  const failures = [...new Set([floor.failure, ...sessions.map((x) => x.failure)].filter((f): f is string => Boolean(f))), ...cliFailures]
  return {
    id: s.id,
    steps: planSteps(s).length,
    ran,
    floorCommands: floor.commands.length,
    floorScripts: floors[0]?.scripts ?? 0,
    provisionMs: spread(sessions.map((x) => x.provisionMs)),
    labproofMs: spread(sessions.map((x) => x.totalMs)),
    labproofStepsMs: spread(sessions.map((x) => x.stepsMs)),
    labproofCpuMs: spread(sessions.map((x) => x.cpuMs)),
    floorMs: spread(floors.map((x) => x.totalMs)),
    floorCommandsMs: spread(floors.map((x) => x.commandsMs)),
    floorCpuMs: spread(floors.map((x) => x.cpuMs)),
    ratio: spread(pairs.map(([l, f]) => l / f)),
    floorWithChecksCommands: floor.withChecks.length,
    floorWithChecksMs: spread(withChecks.map((x) => x.totalMs)),
    checksRatio: spread(withChecks.map((x, i) => x.totalMs / floors[i]!.totalMs)),
    ratioToFloorWithChecks: spread(sessions.map((x, i) => x.totalMs / withChecks[i]!.totalMs)),
    overheadPerStepMs: spread(pairs.map(([l, f]) => (l - f) / Math.max(ran, 1))),
    ...(cli.length ? { cliMs: spread(cli), cliCpuMs: spread(cliCpu) } : {}),
    failures,
    floorMismatches: floor.mismatches,
  }
}

/** Writes NAME.json and NAME.md; the backends an earlier run wrote there and this one did not
 *  measure are kept, each with when and how it was measured (`--backend netns`, then `--backend
 *  docker`, make one file). */
async function write(r: BenchResults): Promise<void> {
  await mkdir(values.out, { recursive: true })
  const file = path.join(values.out, `${values.name}.json`)
  const all = { ...r, backends: [...r.backends, ...(await earlierBackends(file)).filter((b) => !measuredNow.has(b.backend))] }
  await writeFile(file, `${JSON.stringify(all, (_k, v) => (typeof v === 'number' ? Math.round(v * 1000) / 1000 : v), 2)}\n`)
  await writeFile(path.join(values.out, `${values.name}.md`), toMarkdown(all))
}

async function earlierBackends(file: string): Promise<BackendResult[]> {
  const earlier = await readFile(file, 'utf8').then((t) => JSON.parse(t) as BenchResults, () => undefined)
  if (!earlier?.backends) return []
  const { date, loadAtStart, loadAtEnd } = earlier.machine
  return earlier.backends.map((b) => ({ ...b, measured: b.measured ?? { date, command: earlier.command, loadAtStart, ...(loadAtEnd ? { loadAtEnd } : {}) } }))
}

function ms(v: number): string {
  return `${(v / 1000).toFixed(2)} s`
}
