// `labproof grade`: one machine (--target) or a class (--targets students.csv), graded against a
// scenario's checks, read-only. Reports per student under --out; a class also gets summary.csv.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig } from '../config.ts'
import { resolveOneScenario } from '../scenario/selection.ts'
import { topologyOf } from '../scenario/plan.ts'
import { outputDirs } from '../output-dirs.ts'
import { EndStateFileError } from '../endstate/record.ts'
import { planSteps } from '../scenario/plan.ts'
import { serveBoard, type BoardState } from './board.ts'
import { classSummaryCsv, DEFAULT_JOBS, gradeClass, parseStudentsCsv, StudentsCsvError } from './class.ts'
import { DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS, gradeStudent, prepareGrading, type GradeOptions, type GradingPlan, type Student, type StudentGrade } from './grade.ts'
import { canvasCsv, moodleCsv } from './gradebook.ts'
import { GradingFileError } from './weights.ts'
import { evidenceText, uniqueBaseNames, writeStudentReports } from './report-files.ts'
import { parseTarget, redactTarget, TargetError } from './targets.ts'

export const DEFAULT_INTERVAL_S = 30

export const GRADE_USAGE = `labproof grade --scenario FILE|ID (--target TARGET | --targets students.csv) [options]

  Scores a student's live machine against the scenario's checks, never changing it: only
  read-only commands run (ping, ip -j … show, bridge -j link show, sysctl, iptables -S, iptables-save).
  TARGET is ssh://user@host[:port], local (this machine) or docker:CONTAINER.
  students.csv has a header row and the columns name,target,identity (identity: the private
  key file, relative to the CSV; optional columns host_key_sha256, email, lms_id). A row that
  cannot be graded as written scores 0 with file:line and the reason; the rest are graded.
  A host key is trusted from, most specific first: the CSV's host_key_sha256, then
  --host-key-sha256, then the known_hosts file (the first one given is the only one consulted).

  --as ROLE                 the role the machine plays in the lab (default host01)
  --identity KEY            private key for ssh targets (passphrase from LABPROOF_SSH_PASSPHRASE)
  --known-hosts FILE        trusted host keys, OpenSSH format (default ~/.ssh/known_hosts)
  --host-key-sha256 FP      pin a host key fingerprint, SHA256:… (repeatable)
  --sudo                    run the commands through sudo -n (non-root login)
  --jobs N                  students graded at once (default ${DEFAULT_JOBS})
  --out DIR                 where the reports go (default reports/grades/)
  --name NAME               the student's name for --target (default: the target)
  --command-timeout MS      per command (default ${DEFAULT_COMMAND_TIMEOUT_MS}); a command past it grades the student 0
  --connect-timeout MS      TCP connect plus SSH handshake (default ${DEFAULT_CONNECT_TIMEOUT_MS})
  --watch                   grade the class again and again, every --interval seconds, until stopped
  --interval S              seconds between rounds with --watch (default ${DEFAULT_INTERVAL_S})
  --serve HOST:PORT         serve the live class board there (read-only; PORT 0 picks one)

  A class also gets summary.csv, gradebook-moodle.csv and gradebook-canvas.csv under --out.

  Exit code 0 when every graded check of every student passed, 1 otherwise, 2 for a usage error.
`

export class GradeUsageError extends Error {}

function positiveInt(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) throw new GradeUsageError(`--${option} wants a positive whole number, not "${value}"`)
  return n
}

export async function gradeCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      scenario: { type: 'string' },
      target: { type: 'string' },
      targets: { type: 'string' },
      as: { type: 'string', default: 'host01' },
      identity: { type: 'string' },
      'known-hosts': { type: 'string' },
      'host-key-sha256': { type: 'string', multiple: true },
      sudo: { type: 'boolean', default: false },
      jobs: { type: 'string' },
      out: { type: 'string' },
      name: { type: 'string' },
      'command-timeout': { type: 'string' },
      'connect-timeout': { type: 'string' },
      watch: { type: 'boolean', default: false },
      interval: { type: 'string' },
      serve: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(GRADE_USAGE)
    return 0
  }
  if (positionals.length) throw new GradeUsageError(`unexpected argument "${positionals[0]}"\n\n${GRADE_USAGE}`)
  if (!values.scenario) throw new GradeUsageError(`name the lab to grade with --scenario ID\n\n${GRADE_USAGE}`)
  if (!values.target === !values.targets) throw new GradeUsageError(`give either --target TARGET (one machine) or --targets students.csv (a class)\n\n${GRADE_USAGE}`)
  // A file, or an id among the default scenarios (another file there being mid-edit does not stop it).
  const scenario = await resolveOneScenario(values.scenario, { config: loadConfig() })
  const topology = topologyOf(scenario)
  const roles = topology.hosts.map((h) => h.name)
  if (!roles.includes(values.as)) throw new GradeUsageError(`--as ${values.as}: the scenario's hosts are ${roles.join(', ')}`)

  const opts: GradeOptions = {
    role: values.as,
    commandTimeoutMs: positiveInt(values['command-timeout'], 'command-timeout', DEFAULT_COMMAND_TIMEOUT_MS),
    connectTimeoutMs: positiveInt(values['connect-timeout'], 'connect-timeout', DEFAULT_CONNECT_TIMEOUT_MS),
    sudo: values.sudo,
    ...(values.identity ? { identityFile: path.resolve(values.identity) } : {}),
    ...(values['known-hosts'] ? { knownHostsFile: path.resolve(values['known-hosts']) } : {}),
    ...(values['host-key-sha256'] ? { hostKeySha256: values['host-key-sha256'] } : {}),
    ...(process.env.LABPROOF_SSH_PASSPHRASE ? { passphrase: process.env.LABPROOF_SSH_PASSPHRASE } : {}),
  }
  const out = path.resolve(values.out ?? path.join(outputDirs().reports, 'grades'))
  if ((values.watch || values.serve) && !values.targets) throw new GradeUsageError('--watch and --serve grade a class: give --targets students.csv')
  const intervalS = positiveInt(values.interval, 'interval', DEFAULT_INTERVAL_S)
  const serve = values.serve ? parseListen(values.serve) : undefined
  let plan: GradingPlan
  try {
    plan = await prepareGrading(scenario, topology, values.as)
  } catch (e) {
    if (e instanceof GradingFileError || e instanceof EndStateFileError) throw new GradeUsageError(e.message)
    throw e
  }

  if (values.target) {
    // One machine named wrongly is a usage mistake (in a class, that row alone scores 0).
    try {
      parseTarget(values.target)
    } catch (e) {
      if (e instanceof TargetError) throw new GradeUsageError(`--target: ${e.message}`)
      throw e
    }
    const grade = await gradeStudent({ name: values.name ?? redactTarget(values.target), target: values.target }, scenario, topology, opts, plan)
    const files = await writeStudentReports(grade, out)
    process.stdout.write(`${formatGradeText(grade)}\nreports: ${files.html}\n         ${files.json}\n         ${files.junit}\n`)
    return fullMarks(grade) ? 0 : 1
  }

  const csvFile = path.resolve(values.targets!)
  let students: Student[]
  try {
    students = parseStudentsCsv(await readFile(csvFile, 'utf8'), csvFile)
  } catch (e) {
    if (e instanceof StudentsCsvError) throw new GradeUsageError(e.message)
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new GradeUsageError(`${csvFile}: no such file (--targets)`)
    throw e
  }
  if (students.length === 0) throw new GradeUsageError(`${csvFile}:2: no students below the header row`)
  const unique = uniqueBaseNames(students.map((s) => s.name))
  const baseNames = new Map(students.map((s, i) => [s.name, unique[i]!]))
  const jobs = positiveInt(values.jobs, 'jobs', DEFAULT_JOBS)
  const board: BoardState = {
    scenario: { id: scenario.id, title: scenario.title }, sections: [...new Set(planSteps(scenario).map((p) => p.section))],
    students, baseNames, grades: new Map(), round: 0, intervalS,
  }
  let stopped = false
  let wake: () => void = () => {}
  const server = serve ? await serveBoard(board, serve.host, serve.port) : undefined
  const stop = () => { stopped = true; wake() }
  if (values.watch || server) {
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  }
  if (server) process.stdout.write(`class board: ${server.url}\n`)
  let grades: StudentGrade[] = []
  try {
    for (;;) {
      const started = performance.now()
      board.round++
      process.stdout.write(`${board.round > 1 ? '\n' : ''}grading ${students.length} student${students.length === 1 ? '' : 's'} on ${scenario.id} (${jobs} at once)${values.watch ? `, round ${board.round}` : ''}\n`)
      grades = await gradeClass(students, scenario, topology, {
        ...opts,
        jobs,
        plan,
        onGraded: async (g) => {
          board.grades.set(g.name, g)
          await writeStudentReports(g, out, baseNames.get(g.name))
          process.stdout.write(`${oneLine(g)}\n`)
        },
      })
      await mkdir(out, { recursive: true })
      const summary = path.join(out, 'summary.csv')
      await writeFile(summary, classSummaryCsv(grades))
      await writeFile(path.join(out, 'gradebook-moodle.csv'), moodleCsv(grades, students, scenario.title))
      await writeFile(path.join(out, 'gradebook-canvas.csv'), canvasCsv(grades, students, scenario.title))
      const errors = grades.filter((g) => g.error).length
      process.stdout.write(`\n${grades.length} graded in ${((performance.now() - started) / 1000).toFixed(1)} s` +
        `${errors ? `, ${errors} could not be graded (0 points, reason in the report)` : ''}\nsummary: ${summary}\ngrade book: ${path.join(out, 'gradebook-moodle.csv')}, ${path.join(out, 'gradebook-canvas.csv')}\nreports: ${out}/\n`)
      if (!values.watch) break
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalS * 1000)
        wake = () => { clearTimeout(timer); resolve() }
        if (stopped) wake()
      })
      if (stopped) break
    }
    // Served without --watch: the board stays up, on the one round, until stopped.
    if (server && !values.watch && !stopped) await new Promise<void>((resolve) => { wake = resolve })
  } finally {
    server?.server.close()
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
  return grades.every(fullMarks) ? 0 : 1
}

/** `127.0.0.1:8080`, `[::1]:8080`, `:8080` (loopback). */
function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text)
  const port = m ? Number(m[3]) : NaN
  if (!m || port > 65535) throw new GradeUsageError(`--serve ${text}: give HOST:PORT, e.g. 127.0.0.1:8080`)
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port }
}

function fullMarks(g: StudentGrade): boolean {
  return !g.error && g.checks.every((c) => c.status !== 'failed')
}

function oneLine(g: StudentGrade): string {
  const score = `${g.score}/${g.max}`.padStart(7)
  if (g.error) return `  ${g.name.padEnd(20)} ${score}  not graded: ${g.error}`
  const failed = g.checks.filter((c) => c.status === 'failed').map((c) => `step ${c.step}`)
  return `  ${g.name.padEnd(20)} ${score}  ${String(g.percent).padStart(5)}%${failed.length ? `  failed: ${failed.join(', ')}` : ''}`
}

/** The console view of one student's grade: every check, with hints and evidence for failures. */
export function formatGradeText(g: StudentGrade): string {
  const lines = [`${g.name}: ${g.scenario.id} as ${g.role} on ${g.target}`]
  if (g.error) lines.push(`  NOT GRADED (0 points): ${g.error}`)
  for (const c of g.checks) {
    const mark = c.status === 'passed' ? 'PASS' : c.status === 'failed' ? 'FAIL' : 'N/A '
    lines.push(`  ${mark} step ${String(c.step).padStart(2)}  ${c.item ? 'end state: ' : ''}${c.title}  [${c.status === 'needs-setup' ? '-' : `${c.earned}/${c.points}`}]`)
    if (c.status === 'failed') {
      if (c.expected) lines.push(`         expected ${c.expected}`, `              got ${c.got}`)
      else lines.push(`         ${c.got}`)
      if (c.hint) lines.push(`         hint: ${c.hint}`)
      if (c.evidence.length) lines.push(evidenceText(c).split('\n').map((l) => `         | ${l}`).join('\n'))
    }
    if (c.status === 'needs-setup') lines.push(`         needs setup: ${c.reason}`)
  }
  for (const x of g.sections) lines.push(`  section ${x.section}: ${x.score} / ${x.max}`)
  for (const c of g.conditions) lines.push(`  machine: ${c.name} ${c.value} (${c.effect})`)
  lines.push(`score: ${g.score} / ${g.max}${g.max ? ` (${g.percent}%)` : ''}`)
  return lines.join('\n')
}
