// `labproof run | list | clean`: the command line. Runs go through vitest's node API so the CLI,
// `npm test` and an IDE all execute scenarios the same way.
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { backendByName, BACKEND_NAMES } from './backends/index.ts'
import { cleanLeftovers } from './cleanup.ts'
import { collectErrata, formatErrataTable } from './report/errata.ts'
import { loadScenarios, selectScenarios } from './scenario/loader.ts'
import { cellName, planSteps } from './scenario/runner.ts'
import { readMatrix, writeMatrix } from './report/matrix.ts'
import { runProcess } from './local-process.ts'
import { outputDirs } from './output-dirs.ts'

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url))

const USAGE = `labproof — run Linux virtual-networking lab write-ups as tests

usage:
  labproof run [SCENARIO_ID...] [--backend ${BACKEND_NAMES.join('|')}] [--report]
               [--distro bookworm,trixie,bullseye] [--kernel 5.10,6.1,6.12]
               [--image NAME] [--privileged]
  labproof list
  labproof errata [--json]
  labproof clean
  labproof image build [--distro bookworm|trixie|bullseye]... [--force]
  labproof grade --scenario ID (--target TARGET | --targets students.csv) [--help for options]

run      runs the scenarios (all when no id is given) on two fresh hosts per scenario;
         results go to the console, reports/junit.xml and allure-results/; --report also
         builds the Allure HTML report in allure-report/. Exit code 1 when any step fails.
         --distro (docker) and --kernel (qemu) take lists: every scenario runs on each, and
         reports/matrix.md shows the scenario x distro/kernel table with pass, fail or skip.
list     prints every scenario with its source document and requirements.
errata   prints the documents' defects the scenarios record (verbatim command, what it did in
         the last run, the correction and why), as a table or as JSON.
clean    removes whatever an interrupted run left behind (hosts, namespaces, captures,
         docker containers and networks whose owner process is gone).
image build  builds the docker backend's lab host image (debootstrap, no registry; cached).
         --image NAME runs the docker backend on an existing image instead (missing lab tools
         are installed with its package manager); --privileged asks for privileged containers.
grade    scores a student's live machine (ssh://user@host[:port], local, docker:CONTAINER) or a
         class from a CSV against a scenario's checks, read-only; reports in reports/grades/.
`

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'run': return run(rest)
    case 'list': return list(rest)
    case 'errata': return errata(rest)
    case 'clean': return clean(rest)
    case 'image': return image(rest)
    case 'grade': return grade(rest)
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write(USAGE)
      return command === undefined ? 2 : 0
    default:
      throw new UsageError(`unknown command "${command}"; the commands are run, list, errata, clean, image, grade (labproof --help shows how to use them)`)
  }
}

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      backend: { type: 'string', default: 'netns' },
      distro: { type: 'string' },
      kernel: { type: 'string' },
      image: { type: 'string' },
      privileged: { type: 'boolean', default: false },
      report: { type: 'boolean', default: false },
    },
  })
  if (!BACKEND_NAMES.includes(values.backend)) {
    throw new UsageError(`unknown backend "${values.backend}"; choose one of: ${BACKEND_NAMES.join(', ')}`)
  }
  if (values.backend === 'netns' && (values.distro || values.kernel)) {
    throw new UsageError(`--${values.distro ? 'distro' : 'kernel'} chooses the docker image's distro or the qemu VMs' kernel; the netns backend runs on this machine's own (add --backend docker or --backend qemu)`)
  }
  // Fail on a wrong id here, with the list of known ones, before anything is provisioned.
  selectScenarios(await loadScenarios(), positionals)
  // A matrix: every scenario on each distro and/or kernel, one cell after the other.
  const distros = listOption(values.distro)
  const kernels = listOption(values.kernel)
  const cells = distros.flatMap((distro) => kernels.map((kernel) => ({ distro, kernel })))
  // What the backend needs (root, an engine, a kernel it knows), as one line before any lab.
  const backend = await backendByName(values.backend)
  for (const cell of cells) await backend.preflight?.(cell)
  // What runs killed with SIGKILL left behind (docker's are swept when its first lab starts).
  const swept = await cleanLeftovers({ docker: false })
  if (swept.length) process.stderr.write(`labproof: removed what earlier runs left behind:\n${swept.map((r) => `  ${r}`).join('\n')}\n`)

  const out = outputDirs()
  process.env.LABPROOF_OUTPUT_DIR = path.dirname(out.reports)
  await rm(out.allureResults, { recursive: true, force: true })
  await rm(out.runRecords, { recursive: true, force: true })
  process.env.LABPROOF_SCENARIOS = positionals.join(',')
  process.env.LABPROOF_BACKEND = values.backend
  if (values.image) process.env.LABPROOF_DOCKER_IMAGE = values.image
  if (values.privileged) process.env.LABPROOF_DOCKER_PRIVILEGED = '1'

  const { runVitest } = await import('./run-vitest.ts')
  let failed = false
  for (const cell of cells) {
    setOrClear('LABPROOF_DISTRO', cell.distro)
    setOrClear('LABPROOF_KERNEL', cell.kernel)
    if (cells.length > 1) process.stdout.write(`\n== ${cellName({ backend: values.backend, ...cell })}\n`)
    // SIGINT/SIGTERM stop the run there and remove its labs (run-vitest.ts).
    failed = (await runVitest({ root: PACKAGE_DIR, files: ['scenarios/labs.test.ts'], backend: values.backend })) || failed
  }
  const matrix = await readMatrix(out.runRecords, cells.map((c) => cellName({ backend: values.backend, ...c })))
  const table = await writeMatrix(out.reports, matrix)
  if (cells.length > 1) process.stdout.write(`\n${table}\n(also in ${path.join(out.reports, 'matrix.md')})\n`)

  if (values.report) {
    const r = await runProcess(path.join(PACKAGE_DIR, 'node_modules', '.bin', 'allure'), ['generate', out.allureResults, '-o', out.allureReport], { timeoutMs: 300_000 })
    if (r.exitCode !== 0) process.stderr.write(`labproof: the Allure report could not be built:\n${r.stderr || r.stdout}\n`)
    else process.stdout.write(`\nAllure report: ${path.join(out.allureReport, 'index.html')}\n`)
  }
  return failed ? 1 : 0
}

async function list(args: string[]): Promise<number> {
  parseArgs({ args, options: {} })
  const scenarios = await loadScenarios()
  for (const s of scenarios) {
    const steps = planSteps(s)
    const kernel = [...new Set(steps.flatMap((p) => p.requires.kernel))]
    const tools = [...new Set(steps.flatMap((p) => p.requires.tools))]
    process.stdout.write([
      `${s.id}`,
      `  ${s.title}`,
      `  source:   ${s.source.doc}, section ${s.source.section}`,
      `  steps:    ${steps.length}`,
      `  kernel:   ${kernel.join(', ') || '-'}`,
      `  tools:    ${tools.join(', ') || '-'}`,
      '',
    ].join('\n') + '\n')
  }
  return 0
}

async function errata(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } } })
  const rows = await collectErrata(await loadScenarios())
  process.stdout.write(values.json ? `${JSON.stringify(rows, null, 2)}\n` : formatErrataTable(rows))
  return 0
}

async function clean(args: string[]): Promise<number> {
  parseArgs({ args, options: {} })
  const removed = await cleanLeftovers()
  process.stdout.write(removed.length ? `removed:\n${removed.map((r) => `  ${r}`).join('\n')}\n` : 'nothing left behind\n')
  return 0
}

async function image(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { distro: { type: 'string', multiple: true }, force: { type: 'boolean', default: false } },
  })
  if (positionals[0] !== 'build' || positionals.length > 1) throw new UsageError('usage: labproof image build [--distro bookworm|trixie|bullseye]... [--force]')
  const { buildHostImage, isHostDistro, HOST_DISTROS, DEFAULT_DISTRO } = await import('./backends/docker-image.ts')
  for (const distro of values.distro ?? [DEFAULT_DISTRO]) {
    if (!isHostDistro(distro)) throw new UsageError(`unknown distro "${distro}"; choose from ${HOST_DISTROS.join(', ')}`)
    const r = await buildHostImage({ distro, force: values.force })
    process.stdout.write(`${r.image} ${r.built ? `built in ${(r.ms / 1000).toFixed(1)} s` : 'already built (cached)'}\n`)
  }
  return 0
}

/** Loaded only for `grade`: the other commands never load the ssh and grading code. */
async function grade(args: string[]): Promise<number> {
  const { gradeCommand, GradeUsageError } = await import('./grade/grade-command.ts')
  try {
    return await gradeCommand(args)
  } catch (e) {
    throw e instanceof GradeUsageError ? new UsageError(e.message) : e
  }
}

class UsageError extends Error {}

/** `--kernel 5.10,6.1` → ['5.10', '6.1']; absent → [undefined] (one cell, the default). */
function listOption(v: string | undefined): (string | undefined)[] {
  const items = (v ?? '').split(',').map((x) => x.trim()).filter(Boolean)
  return items.length ? items : [undefined]
}

function setOrClear(name: string, value: string | undefined): void {
  if (value) process.env[name] = value
  else delete process.env[name]
}

/** node:util parseArgs' complaints, said the labproof way (they are usage errors). */
function argumentError(e: unknown, command: string | undefined): UsageError | undefined {
  const code = (e as { code?: string }).code ?? ''
  if (!code.startsWith('ERR_PARSE_ARGS_')) return undefined
  const quoted = /'([^']+)'/.exec((e as Error).message)?.[1] ?? ''
  const problem = code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? `unknown option ${quoted}`
    : code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ? `option ${quoted.replace(/ <value>$/, '')} needs a value`
    : code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' ? `unexpected argument "${quoted}"`
    : (e as Error).message
  return new UsageError(`${command}: ${problem} (labproof --help shows the options)`)
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code },
  (e: unknown) => {
    const error = argumentError(e, process.argv[2]) ?? e
    process.stderr.write(`labproof: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exitCode = error instanceof UsageError ? 2 : 1
  },
)
