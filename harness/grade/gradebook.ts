// The class's grades in the CSV shapes learning platforms import.
//  - Moodle (Grades → Import → CSV file): `Email address`, `ID number`, one column named after
//    the lab with the score, `Feedback` (plain text). Map "Email address" (or "ID number") to the
//    user, the lab's column to the grade item, Feedback to its feedback.
//  - Canvas (Grades → Import): `Student`, `ID`, `SIS User ID`, `SIS Login ID`, `Section`, then
//    `<lab title>` with the score; a second row `Points Possible` gives the maximum. Canvas
//    matches students by SIS User ID (the CSV's lms_id) or SIS Login ID (its email).
// A student who could not be graded gets 0, with the reason in Moodle's feedback.
import { formatCsv } from './csv.ts'
import type { Student, StudentGrade } from './grade.ts'

function feedback(g: StudentGrade): string {
  if (g.error) return `Not graded: ${g.error}`
  const failed = g.checks.filter((c) => c.status === 'failed').map((c) => c.title)
  const sections = g.sections.map((s) => `${s.section} ${s.score}/${s.max}`).join('; ')
  return `${g.score}/${g.max} (${g.percent}%). ${sections}${failed.length ? `. To fix: ${failed.join('; ')}` : ''}`
}

export function moodleCsv(grades: StudentGrade[], students: Student[], item: string): string {
  const byName = new Map(students.map((s) => [s.name, s]))
  return formatCsv([
    ['Email address', 'ID number', item, 'Feedback'],
    ...grades.map((g) => [byName.get(g.name)?.email ?? '', byName.get(g.name)?.lmsId ?? '', g.score, feedback(g)]),
  ])
}

export function canvasCsv(grades: StudentGrade[], students: Student[], item: string): string {
  const byName = new Map(students.map((s) => [s.name, s]))
  const max = grades.find((g) => !g.error)?.max ?? grades[0]?.max ?? 0
  return formatCsv([
    ['Student', 'ID', 'SIS User ID', 'SIS Login ID', 'Section', item],
    ['Points Possible', '', '', '', '', max],
    ...grades.map((g) => [g.name, '', byName.get(g.name)?.lmsId ?? '', byName.get(g.name)?.email ?? '', '', g.score]),
  ])
}
