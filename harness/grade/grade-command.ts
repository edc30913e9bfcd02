// `labproof grade`: one machine (--target) or a class (--targets students.csv), graded against a
// scenario's checks, read-only. Reports per student under --out; a class also gets summary.csv.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { loadScenarioFile, SCENARIO_DIR, type LoadedScenario } from '../scenario/loader.ts'
import { topologyOf } from '../scenario/plan.ts'
import { outputDirs } from '../output-dirs.ts'
import { classSummaryCsv, DEFAULT_JOBS, gradeClass, parseStudentsCsv } from './class.ts'
import { DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS, gradeStudent, type GradeOptions, type StudentGrade } from './grade.ts'
import { evidenceText, uniqueBaseNames, writeStudentReports } from './report-files.ts'
import { parseTarget, redactTarget, TargetError } from './targets.ts'

export const GRADE_USAGE = `labproof grade --scenario ID (--target TARGET | --targets students.csv) [options]

  Scores a student's live machine against the scenario's checks, never changing it: only
  read-only commands run (ping, ip -j … show, bridge -j link show, sysctl -n, iptables -S).
  TARGET is ssh://user@host[:port], local (this machine) or docker:CONTAINER.
  students.csv has a header row and the columns name,target,identity (identity: the private
  key file, relative to the CSV; optional column host_key_sha256).

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
  const scenario = await loadOneScenario(values.scenario)
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

  if (values.target) {
    // One machine named wrongly is a usage mistake (in a class, that row alone scores 0).
    try {
      parseTarget(values.target)
    } catch (e) {
      if (e instanceof TargetError) throw new GradeUsageError(`--target: ${e.message}`)
      throw e
    }
    const grade = await gradeStudent({ name: values.name ?? redactTarget(values.target), target: values.target }, scenario, topology, opts)
    const files = await writeStudentReports(grade, out)
    process.stdout.write(`${formatGradeText(grade)}\nreports: ${files.html}\n         ${files.json}\n         ${files.junit}\n`)
    return fullMarks(grade) ? 0 : 1
  }

  const csvFile = path.resolve(values.targets!)
  const students = parseStudentsCsv(await readFile(csvFile, 'utf8'), csvFile)
  if (students.length === 0) throw new GradeUsageError(`${csvFile}: no students below the header row`)
  const unique = uniqueBaseNames(students.map((s) => s.name))
  const baseNames = new Map(students.map((s, i) => [s.name, unique[i]!]))
  const jobs = positiveInt(values.jobs, 'jobs', DEFAULT_JOBS)
  const started = performance.now()
  process.stdout.write(`grading ${students.length} student${students.length === 1 ? '' : 's'} on ${scenario.id} (${jobs} at once)\n`)
  const grades = await gradeClass(students, scenario, topology, {
    ...opts,
    jobs,
    onGraded: async (g) => {
      await writeStudentReports(g, out, baseNames.get(g.name))
      process.stdout.write(`${oneLine(g)}\n`)
    },
  })
  await mkdir(out, { recursive: true })
  const summary = path.join(out, 'summary.csv')
  await writeFile(summary, classSummaryCsv(grades))
  const errors = grades.filter((g) => g.error).length
  process.stdout.write(`\n${grades.length} graded in ${((performance.now() - started) / 1000).toFixed(1)} s` +
    `${errors ? `, ${errors} could not be graded (0 points, reason in the report)` : ''}\nsummary: ${summary}\nreports: ${out}/\n`)
  return grades.every(fullMarks) ? 0 : 1
}

/** The scenario to grade; another scenario file being broken (an author mid-edit) does not stop it. */
async function loadOneScenario(id: string): Promise<LoadedScenario> {
  const files = (await readdir(SCENARIO_DIR)).filter((f) => /\.ya?ml$/.test(f)).sort()
  const loaded = await Promise.allSettled(files.map((f) => loadScenarioFile(path.join(SCENARIO_DIR, f))))
  const found = loaded.flatMap((r) => (r.status === 'fulfilled' && r.value.id === id ? [r.value] : []))
  if (found.length === 1) return found[0]!
  if (found.length > 1) throw new Error(`scenario id "${id}" is used by ${found.map((s) => s.file).join(' and ')}`)
  const known = loaded.flatMap((r) => (r.status === 'fulfilled' ? [r.value.id] : []))
  const broken = loaded.flatMap((r) => (r.status === 'rejected' ? [`  ${(r.reason as Error).message.split('\n')[0]}`] : []))
  throw new GradeUsageError(`no scenario with id "${id}"; known scenarios: ${known.join(', ')}${broken.length ? `\nscenario files that could not be read:\n${broken.join('\n')}` : ''}`)
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
    lines.push(`  ${mark} step ${String(c.step).padStart(2)}  ${c.title}  [${c.status === 'needs-setup' ? '-' : `${c.earned}/${c.points}`}]`)
    if (c.status === 'failed') {
      if (c.expected) lines.push(`         expected ${c.expected}`, `              got ${c.got}`)
      else lines.push(`         ${c.got}`)
      if (c.hint) lines.push(`         hint: ${c.hint}`)
      if (c.evidence.length) lines.push(evidenceText(c).split('\n').map((l) => `         | ${l}`).join('\n'))
    }
    if (c.status === 'needs-setup') lines.push(`         needs setup: ${c.reason}`)
  }
  lines.push(`score: ${g.score} / ${g.max}${g.max ? ` (${g.percent}%)` : ''}`)
  return lines.join('\n')
}
