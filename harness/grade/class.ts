// A class at once: students from a CSV (name, target, identity; header row), graded with
// bounded concurrency, each written out as soon as it is graded; then a summary CSV. One
// student's unreachable machine, refused login, wrong host key or hung command gives that
// student 0 with the reason and never stops the run.
import path from 'node:path'
import type { LoadedScenario } from '../scenario/loader.ts'
import type { Topology } from '../topology.ts'
import { formatCsv, parseCsv } from './csv.ts'
import { eachLimited, gradeStudent, type GradeOptions, type GradingPlan, type Student, type StudentGrade } from './grade.ts'
import { parseTarget, TARGET_FORMS } from './targets.ts'

const REQUIRED_COLUMNS = ['name', 'target'] as const
const OPTIONAL_COLUMNS = ['identity', 'host_key_sha256', 'email', 'lms_id'] as const
const COLUMNS_TEXT = 'name, target, and optionally identity, host_key_sha256, email, lms_id'

/** A mistake in the class list as a whole (no header, an unknown column, an unclosed quote):
 *  nothing can be graded; `file:line: why`. */
export class StudentsCsvError extends Error {}

/** Students from CSV text; a relative identity path is taken from the CSV file's folder. A row
 *  that cannot be graded as written (no name, no target, a bad target, more fields than
 *  columns, a name used twice) is kept, marked invalid with `file:line: why`: that student
 *  scores 0 with the reason, and the rest are graded. */
export function parseStudentsCsv(text: string, file: string): Student[] {
  let rows
  try {
    rows = parseCsv(text)
  } catch (e) {
    throw new StudentsCsvError(`${file}:${(e as Error).message}`)
  }
  const header = rows.shift()
  if (!header) throw new StudentsCsvError(`${file}:1: empty; the first line names the columns: name,target,identity`)
  const columns = header.fields.map((f) => f.trim().toLowerCase())
  for (const c of REQUIRED_COLUMNS) {
    if (!columns.includes(c)) throw new StudentsCsvError(`${file}:${header.line}: no "${c}" column; the first line names the columns: ${COLUMNS_TEXT}`)
  }
  const unknown = columns.filter((c) => c && ![...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS].includes(c as never))
  if (unknown.length) throw new StudentsCsvError(`${file}:${header.line}: unknown column ${unknown.map((c) => `"${c}"`).join(', ')}; the columns are ${COLUMNS_TEXT}`)
  const at = (row: string[], column: string) => (columns.includes(column) ? (row[columns.indexOf(column)] ?? '').trim() : '')
  const seen = new Map<string, number>()
  return rows.map(({ line, fields }) => {
    const name = at(fields, 'name') || `line ${line}`
    const target = at(fields, 'target')
    const invalid = (why: string): Student => ({ name, target, invalid: `${file}:${line}: ${why}` })
    if (fields.length > columns.length) {
      return invalid(`${fields.length} fields, but the header names ${columns.length} columns (${columns.join(', ')}); a field with a comma is written in double quotes`)
    }
    if (!at(fields, 'name')) return invalid('the student has no name')
    if (seen.has(name)) return invalid(`"${name}" is listed twice (also on line ${seen.get(name)}); names must be unique, they name the report files`)
    seen.set(name, line)
    if (!target) return invalid(`${name} has no target (${TARGET_FORMS})`)
    try {
      parseTarget(target)
    } catch (e) {
      return invalid((e as Error).message)
    }
    const identity = at(fields, 'identity')
    const pins = at(fields, 'host_key_sha256').split(/\s+/).filter(Boolean)
    const email = at(fields, 'email')
    const lmsId = at(fields, 'lms_id')
    return {
      name,
      target,
      ...(identity ? { identityFile: path.resolve(path.dirname(file), identity) } : {}),
      ...(pins.length ? { hostKeySha256: pins } : {}),
      ...(email ? { email } : {}),
      ...(lmsId ? { lmsId } : {}),
    }
  })
}

export interface ClassOptions extends GradeOptions {
  /** Students graded at once. */
  jobs: number
  /** The scenario prepared once for the class (prepareGrading). */
  plan?: GradingPlan
  /** Called as each student is graded (write the report, print a line). */
  onGraded?: (grade: StudentGrade) => Promise<void> | void
}

export const DEFAULT_JOBS = 4

/** Every student graded, in the CSV's order. */
export async function gradeClass(students: Student[], scenario: LoadedScenario, topology: Topology, opts: ClassOptions): Promise<StudentGrade[]> {
  const grades: StudentGrade[] = new Array(students.length)
  await eachLimited(students, opts.jobs, async (student, i) => {
    grades[i] = await gradeStudent(student, scenario, topology, opts, opts.plan)
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
