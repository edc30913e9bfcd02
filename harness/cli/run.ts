// `labproof run [FILE|DIR|ID]...`: the scenarios on fresh labs, each driven by its engine in this
// process (run/run-scenarios.ts), without vitest: a run costs what its labs cost. The vitest
// binding (scenario/runner.ts) runs the same engine and reports for `npm test` and vitest suites.
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { backendsHelp, defaultJobsHelp } from '../backends/help.ts'
import { backendByName, backendCliOptions, backendNames, backendOptions, backendOptionsFromEnv } from '../backends/index.ts'
import { applyBaseline, prepareBaseline } from '../baseline.ts'
import { cleanLeftovers } from '../cleanup.ts'
import type { LabproofConfig } from '../config.ts'
import { cellName, type RunOptions } from '../engine/run-options.ts'
import { outputDirs } from '../output-dirs.ts'
import { writePlannedJunit } from '../report/junit-reporter.ts'
import { readMatrix, writeMatrix } from '../report/matrix.ts'
import { ConsoleReport } from '../run/console-report.ts'
import { guardRun } from '../run/interrupt.ts'
import { runScenarios } from '../run/run-scenarios.ts'
import { defaultJobs } from '../scenario/jobs.ts'
import { resolveLimits, setScenarioLimits, type ScenarioLimits } from '../scenario/limits.ts'
import { resolveScenarios } from '../scenario/selection.ts'
import { parseShard, shardOf } from '../scenario/shard.ts'
import { runSettings } from './run-settings.ts'
import { parseCommand, positiveInteger, UsageError } from './usage.ts'

/** `labproof run --help`; the backends and their options come from the registry. */
export function runHelp(): string {
  return `usage: labproof run [FILE|DIR|ID]... [options]

Runs scenarios on two fresh hosts each and reports every step: the console, reports/junit.xml
(one testcase per step), reports/run/ and allure-results/ under the output folder.

  FILE|DIR|ID       scenario files, folders of them (their *.yaml and *.yml) and scenario ids
                    (looked up in the default scenarios). Default: the config's "scenarios",
                    else ./scenarios of the current directory, else the examples labproof ships.
  --backend B       ${backendNames().join(', ')} (default: the config's "backend", else netns);
                    each takes the options listed under it below
  --shard I/N       run only the Ith of N parts of the scenarios (every Nth in id order): N
                    runners with --shard 1/N .. N/N run each scenario once
  --jobs N          scenarios at once, each on its own lab (default: LABPROOF_JOBS, the
                    config's "jobs", else ${defaultJobsHelp()})
  --out DIR         the output folder (default: LABPROOF_OUTPUT_DIR, the config's "output",
                    else the current directory)
  --report          also build the HTML report in allure-report/ (a report that cannot be
                    built fails the run)
  --baseline FILE   fail when a step is skipped that FILE does not expect for this backend,
                    distro and kernel (e.g. baselines/netns.json); expected skips that now run
                    are reported, not failed
  --write-baseline FILE  write this run's skips into FILE (to review and commit)
  --max-steps N     refuse a scenario of more than N steps (default: LABPROOF_MAX_STEPS, the
                    config's "maxSteps", else 2000)
  --max-scenario-bytes N  refuse a scenario file of more than N bytes (default:
                    LABPROOF_MAX_SCENARIO_BYTES, the config's "maxScenarioBytes", else 1 MiB)

Exit code 0 when every step passed or was skipped with a reason, 1 when a step failed (or the
report could not be built), 2 for a mistake on the command line; 130/143 when stopped by
SIGINT/SIGTERM, after its labs are removed (a second signal exits at once).

backends (a LIST runs every scenario once per value; reports/matrix.md is the table):
${backendsHelp()}
`
}

export async function runCommand(args: string[], config: LabproofConfig): Promise<number> {
  const { values, positionals } = parseCommand(args, {
    backend: { type: 'string' },
    ...backendCliOptions(),
    report: { type: 'boolean', default: false },
    shard: { type: 'string' },
    jobs: { type: 'string' },
    out: { type: 'string' },
    baseline: { type: 'string' },
    'write-baseline': { type: 'string' },
    'max-steps': { type: 'string' },
    'max-scenario-bytes': { type: 'string' },
  }, true)
  const settings = runSettings(values, config)
  const backendName = settings.backend
  if (!backendNames().includes(backendName)) {
    throw new UsageError(`unknown backend "${backendName}"; choose one of: ${backendNames().join(', ')}`)
  }
  // The backend's options: its environment defaults, then the command line; checked against its
  // schema here, then handed to the engine with the run (never read back from the environment).
  const { distro, kernel, ...backendOpts } = checkedBackendOptions(backendName, values)
  // The scenarios' size limits: these options, else the environment, else the config file.
  const limits = resolveLimits({
    cli: {
      ...(values['max-steps'] !== undefined ? { steps: positiveInteger(values['max-steps'] as string, 'max-steps') } : {}),
      ...(values['max-scenario-bytes'] !== undefined ? { bytes: positiveInteger(values['max-scenario-bytes'] as string, 'max-scenario-bytes') } : {}),
    },
    env: process.env,
    ...(config.limits ? { config: config.limits } : {}),
  })
  setScenarioLimits(limits)
  const shard = values.shard === undefined ? undefined : parseShard(values.shard)
  const baseline = { check: values.baseline, write: values['write-baseline'] }
  await prepareBaseline(baseline)
  // Read by outputDirs(), wherever a report is written.
  if (settings.output !== undefined) process.env.LABPROOF_OUTPUT_DIR = settings.output

  // A wrong file, folder or id fails here, before anything is provisioned.
  const selected = await resolveScenarios(positionals, { config })
  const scenarios = shard ? shardOf(selected, shard) : selected
  if (scenarios.length === 0) {
    process.stdout.write(`labproof: shard ${shard!.index}/${shard!.count} has no scenarios (${selected.length} scenario${selected.length === 1 ? '' : 's'} for ${shard!.count} shards): nothing to run\n`)
    return 0
  }
  if (shard) process.stdout.write(`shard ${shard.index}/${shard.count}: ${scenarios.map((s) => s.id).join(', ')}\n`)

  // From here a signal, the parent's death or a closed output stops the run and removes its labs.
  guardRun(backendName)
  // A matrix: every scenario on each distro and/or kernel, one cell after the other.
  const distros = listOption(distro as string | undefined)
  const kernels = listOption(kernel as string | undefined)
  const cells = distros.flatMap((distro) => kernels.map((kernel) => ({ distro, kernel })))
  // What the backend needs (root, an engine, a kernel it knows), as one line before any lab.
  const backend = await backendByName(backendName)
  for (const cell of cells) await backend.preflight({ ...backendOpts, ...cell })
  // Nothing is written before the machine passed the preflight. From here reports/junit.xml names
  // every step (the sweep takes a while): a run stopped before they ran says so.
  const cellNames = cells.map((c) => cellName({ backend: backendName, ...c }))
  writePlannedJunit({ outputFile: outputDirs().junit, runRecords: outputDirs().runRecords, cell: cellNames[0]! }, scenarios.map((s) => s.file))
  // What runs of this backend killed with SIGKILL left behind (docker's are swept when its first
  // lab starts); it touches only what dead runs own, and runScenarios starts the labs once it is
  // gone. Other backends' leftovers cannot meet this backend's labs: their own next run or
  // `labproof clean` removes them (sweeping them here cost a netns run 0.15 s: virsh asking
  // libvirtd, their code to load, beside the first lab on a 2-core machine).
  const swept = cleanLeftovers({ engineBackends: [], only: [backendName] }).then((removed) => {
    if (removed.length) process.stderr.write(`labproof: removed what earlier runs left behind:\n${removed.map((r) => `  ${r}`).join('\n')}\n`)
  })
  swept.catch(() => {}) // awaited by runScenarios: its failure fails the run

  const out = outputDirs()
  process.env.LABPROOF_OUTPUT_DIR = path.dirname(out.reports)
  await rm(out.allureResults, { recursive: true, force: true })
  await rm(out.runRecords, { recursive: true, force: true })

  let failed = false
  for (const [i, cell] of cells.entries()) {
    if (cells.length > 1) process.stdout.write(`\n== ${cellNames[i]}\n`)
    const report = new ConsoleReport()
    const run = runOf(backendName, cell, backendOpts, settings.jobs ?? defaultJobs(backendName), limits)
    failed = (await runScenarios({ scenarios, run, console: report, junit: { outputFile: out.junit, runRecords: out.runRecords }, allureResults: out.allureResults, before: swept })) || failed
    report.summary()
  }
  const matrix = await readMatrix(out.runRecords, cellNames)
  const table = await writeMatrix(out.reports, matrix)
  if (cells.length > 1) process.stdout.write(`\n${table}\n(also in ${path.join(out.reports, 'matrix.md')})\n`)
  failed = (await applyBaseline(baseline, out.runRecords, cellNames)) || failed

  if (values.report) {
    const { buildHtmlReport } = await import('../report/html.ts')
    const index = await buildHtmlReport([out.allureResults], out.allureReport)
    process.stdout.write(`\nHTML report: ${index}\n`)
  }
  return failed ? 1 : 0
}

/** The options given for the backend (command line over environment), checked by its schema. */
function checkedBackendOptions(backend: string, values: Record<string, unknown>): Record<string, unknown> {
  const given = Object.fromEntries(Object.keys(backendCliOptions()).filter((k) => values[k] !== undefined).map((k) => [k, values[k]]))
  try {
    return backendOptions(backend, { ...backendOptionsFromEnv(backend, process.env), ...given })
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
}

/** One matrix cell's run. */
function runOf(backend: string, cell: { distro?: string; kernel?: string }, options: Record<string, unknown>, jobs: number, limits: ScenarioLimits): RunOptions {
  return {
    backend,
    ...(cell.distro ? { distro: cell.distro } : {}),
    ...(cell.kernel ? { kernel: cell.kernel } : {}),
    options,
    jobs,
    limits,
  }
}

/** `--kernel 5.10,6.1` → ['5.10', '6.1']; absent → [undefined] (one cell, the default). */
function listOption(v: string | undefined): (string | undefined)[] {
  const items = (v ?? '').split(',').map((x) => x.trim()).filter(Boolean)
  return items.length ? items : [undefined]
}
