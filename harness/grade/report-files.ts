// A student's grade as files: NAME.json (everything, for scripts), NAME.junit.xml (one testcase
// per check, for CI dashboards and LMS importers) and NAME.html (for a teaching assistant).
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { GradedCheck, StudentGrade } from './grade.ts'
import { gradeHtml } from './report-html.ts'

export const DEFAULT_GRADES_DIR = 'reports/grades'

/** A file name from a student's name: letters, digits, dot, dash, underscore. */
export function reportBaseName(name: string): string {
  const slug = name.normalize('NFKD').replace(/[^\w.-]+/g, '_').replace(/^[._]+|_+$/g, '')
  return slug || 'student'
}

export interface StudentReportFiles {
  json: string
  junit: string
  html: string
}

export async function writeStudentReports(grade: StudentGrade, dir: string, baseName = reportBaseName(grade.name)): Promise<StudentReportFiles> {
  await mkdir(dir, { recursive: true })
  const files = {
    json: path.join(dir, `${baseName}.json`),
    junit: path.join(dir, `${baseName}.junit.xml`),
    html: path.join(dir, `${baseName}.html`),
  }
  await Promise.all([
    writeFile(files.json, `${JSON.stringify(grade, null, 2)}\n`),
    writeFile(files.junit, gradeJunit(grade)),
    writeFile(files.html, gradeHtml(grade)),
  ])
  return files
}

/** Distinct file names for every student, even when two names make the same slug. */
export function uniqueBaseNames(names: string[]): string[] {
  const used = new Map<string, number>()
  return names.map((n) => {
    const base = reportBaseName(n)
    const count = (used.get(base) ?? 0) + 1
    used.set(base, count)
    return count === 1 ? base : `${base}-${count}`
  })
}

const xml = (s: string | number) => String(s)
  // Characters XML 1.0 cannot carry at all (terminal control codes in a command's output).
  .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '')
  .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

export function evidenceText(c: GradedCheck): string {
  return c.evidence.map((e) => {
    const lines = [`$ [${e.where}] ${e.command}`, `exit ${e.exitCode}${e.timedOut ? ' (killed: timed out)' : ''} after ${e.ms} ms`]
    if (e.stdout.trim()) lines.push(e.stdout.trimEnd())
    if (e.stderr.trim()) lines.push(`stderr: ${e.stderr.trimEnd()}`)
    return lines.join('\n')
  }).join('\n\n')
}

export function gradeJunit(g: StudentGrade): string {
  const failures = g.checks.filter((c) => c.status === 'failed').length
  const skipped = g.checks.filter((c) => c.status === 'needs-setup').length
  const suite = `${g.name}: ${g.scenario.id}`
  const cases = g.checks.map((c) => {
    const head = `    <testcase classname="${xml(`${g.scenario.id}.${g.name}`)}" name="${xml(`step ${c.step}: ${c.title} (${c.points} pt${c.points === 1 ? '' : 's'})`)}" time="${(c.evidence.reduce((s, e) => s + e.ms, 0) / 1000).toFixed(3)}">`
    const out = c.evidence.length ? `\n      <system-out>${xml(evidenceText(c))}</system-out>` : ''
    if (c.status === 'passed') return `${head}${out}\n    </testcase>`
    if (c.status === 'needs-setup') return `${head}\n      <skipped message="${xml(`needs setup: ${c.reason}`)}"/>\n    </testcase>`
    const message = c.expected ? `expected ${c.expected}; got ${c.got}` : (c.got ?? 'failed')
    return `${head}\n      <failure message="${xml(message)}">${xml([message, c.hint && `hint: ${c.hint}`].filter(Boolean).join('\n'))}</failure>${out}\n    </testcase>`
  })
  if (g.error) {
    cases.push(`    <testcase classname="${xml(`${g.scenario.id}.${g.name}`)}" name="reach and grade the machine">\n      <error message="${xml(g.error)}">${xml(`graded 0: ${g.error}`)}</error>\n    </testcase>`)
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xml(`labproof grade ${g.scenario.id}`)}" tests="${cases.length}" failures="${failures}" errors="${g.error ? 1 : 0}" skipped="${skipped}" time="${(g.ms / 1000).toFixed(3)}">`,
    `  <testsuite name="${xml(suite)}" tests="${cases.length}" failures="${failures}" errors="${g.error ? 1 : 0}" skipped="${skipped}" time="${(g.ms / 1000).toFixed(3)}" timestamp="${xml(g.startedAt.replace(/\.\d+Z$/, ''))}">`,
    '    <properties>',
    `      <property name="score" value="${g.score}"/>`,
    `      <property name="max" value="${g.max}"/>`,
    `      <property name="percent" value="${g.percent}"/>`,
    `      <property name="target" value="${xml(g.target)}"/>`,
    `      <property name="role" value="${xml(g.role)}"/>`,
    '    </properties>',
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n')
}
