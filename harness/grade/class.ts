// A class at once: students from a CSV (name, target, identity; header row), graded with
// bounded concurrency, each written out as soon as it is graded; then a summary CSV. One
// student's unreachable machine, refused login, wrong host key or hung command gives that
// student 0 with the reason and never stops the run.
import path from 'node:path'
import type { LoadedScenario } from '../scenario/loader.ts'
import type { Topology } from '../topology.ts'
import { formatCsv, parseCsv } from './csv.ts'
import { eachLimited, gradeStudent, type GradeOptions, type Student, type StudentGrade } from './grade.ts'

const REQUIRED_COLUMNS = ['name', 'target'] as const
const OPTIONAL_COLUMNS = ['identity', 'host_key_sha256'] as const

/** Students from CSV text; a relative identity path is taken from the CSV file's folder. */
export function parseStudentsCsv(text: string, file: string): Student[] {
  const rows = parseCsv(text)
  const header = rows.shift()
  if (!header) throw new Error(`${file}: empty; the first line names the columns: name,target,identity`)
  const columns = header.fields.map((f) => f.trim().toLowerCase())
  for (const c of REQUIRED_COLUMNS) {
    if (!columns.includes(c)) throw new Error(`${file}:${header.line}: no "${c}" column; the first line names the columns: name,target,identity`)
  }
  const unknown = columns.filter((c) => c && ![...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS].includes(c as never))
  if (unknown.length) throw new Error(`${file}:${header.line}: unknown column ${unknown.map((c) => `"${c}"`).join(', ')}; the columns are name, target, identity and optionally host_key_sha256`)
  const at = (row: string[], column: string) => (row[columns.indexOf(column)] ?? '').trim()
  const seen = new Map<string, number>()
  return rows.map(({ line, fields }) => {
    const name = at(fields, 'name')
    const target = at(fields, 'target')
    if (!name) throw new Error(`${file}:${line}: the student has no name`)
    if (!target) throw new Error(`${file}:${line}: ${name} has no target (${'ssh://user@host[:port], local, or docker:CONTAINER'})`)
    if (seen.has(name)) throw new Error(`${file}:${line}: "${name}" is listed twice (also on line ${seen.get(name)}); names must be unique, they name the report files`)
    seen.set(name, line)
    const identity = columns.includes('identity') ? at(fields, 'identity') : ''
    const pins = columns.includes('host_key_sha256') ? at(fields, 'host_key_sha256').split(/\s+/).filter(Boolean) : []
    return {
      name,
      target,
      ...(identity ? { identityFile: path.resolve(path.dirname(file), identity) } : {}),
      ...(pins.length ? { hostKeySha256: pins } : {}),
    }
  })
}

export interface ClassOptions extends GradeOptions {
  /** Students graded at once. */
  jobs: number
  /** Called as each student is graded (write the report, print a line). */
  onGraded?: (grade: StudentGrade) => Promise<void> | void
}

export const DEFAULT_JOBS = 4

/** Every student graded, in the CSV's order. */
export async function gradeClass(students: Student[], scenario: LoadedScenario, topology: Topology, opts: ClassOptions): Promise<StudentGrade[]> {
  const grades: StudentGrade[] = new Array(students.length)
  await eachLimited(students, opts.jobs, async (student, i) => {
    grades[i] = await gradeStudent(student, scenario, topology, opts)
    await opts.onGraded?.(grades[i])
  })
  return grades
}

/** name, score, max, percent, failed checks, error: one row per student. */
export function classSummaryCsv(grades: StudentGrade[]): string {
  return formatCsv([
    ['name', 'score', 'max', 'percent', 'failed_checks', 'error'],
    ...grades.map((g) => [
      g.name,
      g.score,
      g.max,
      g.percent,
      g.checks.filter((c) => c.status === 'failed').map((c) => `step ${c.step}: ${c.title}`).join('; '),
      g.error ?? '',
    ]),
  ])
}
