// The live class board: a small read-only web server over the latest grades. `/` is the board
// (one row per student, one column per section of the lab; the page polls /class.json and
// redraws, so it follows the students as they work), `/student/NAME.html` a student's report,
// `/gradebook-moodle.csv` and `/gradebook-canvas.csv` the grade book. Only GET is served; the
// students' machines are only ever read, by the grading loop.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { canvasCsv, moodleCsv } from './gradebook.ts'
import type { Student, StudentGrade } from './grade.ts'
import { gradeHtml } from './report-html.ts'

export interface BoardState {
  scenario: { id: string; title: string }
  sections: string[]
  students: Student[]
  /** File names by student name (unique). */
  baseNames: Map<string, string>
  grades: Map<string, StudentGrade>
  /** Rounds of grading done; the page shows it. */
  round: number
  intervalS: number
}

export function classJson(b: BoardState) {
  return {
    scenario: b.scenario,
    sections: b.sections,
    round: b.round,
    intervalS: b.intervalS,
    students: b.students.map((s) => {
      const g = b.grades.get(s.name)
      return {
        name: s.name,
        report: `student/${encodeURIComponent(b.baseNames.get(s.name)!)}.html`,
        ...(g ? {
          graded: g.startedAt, score: g.score, max: g.max, percent: g.percent, reached: g.reached || Boolean(g.invalidRow),
          ...(g.error ? { error: g.error } : {}),
          sections: Object.fromEntries(g.sections.map((x) => [x.section, { score: x.score, max: x.max }])),
        } : {}),
      }
    }),
  }
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

export function boardHtml(b: BoardState): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Class board — ${esc(b.scenario.title)}</title>
<style>
body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; } th, td { padding: .35em .7em; border-bottom: 1px solid #ddd; text-align: left; }
td.full { background: #e3f4e6; } td.part { background: #fff4d6; } td.none { background: #fde8ea; }
.muted { color: #666; } .unreached { color: #b00020; }
</style></head><body>
<h1>${esc(b.scenario.title)}</h1>
<p class="muted">Scenario <code>${esc(b.scenario.id)}</code>. The students' machines are read, never changed, every ${b.intervalS} s;
this page follows them. <span id="status">Loading…</span> Grade book: <a href="gradebook-moodle.csv">Moodle CSV</a>, <a href="gradebook-canvas.csv">Canvas CSV</a>.</p>
<table id="board"><thead><tr><th>Student</th><th>Score</th>${b.sections.map((s) => `<th>${esc(s)}</th>`).join('')}</tr></thead><tbody></tbody></table>
<script>
const sections = ${JSON.stringify(b.sections).replace(/</g, '\\u003c')}
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])
const cls = (score, max) => (max === 0 ? '' : score >= max ? 'full' : score > 0 ? 'part' : 'none')
async function refresh() {
  try {
    const data = await (await fetch('class.json', { cache: 'no-store' })).json()
    document.querySelector('#board tbody').innerHTML = data.students.map((s) => {
      if (s.score === undefined) return '<tr data-student="' + esc(s.name) + '"><td>' + esc(s.name) + '</td><td class="muted" colspan="' + (sections.length + 1) + '">not graded yet</td></tr>'
      const name = '<td><a href="' + s.report + '">' + esc(s.name) + '</a></td>'
      if (s.error) return '<tr data-student="' + esc(s.name) + '">' + name + '<td class="none" data-score="0">0 / ' + s.max + '</td><td class="unreached" colspan="' + sections.length + '">' + (s.reached ? 'not graded: ' : 'could not be reached: ') + esc(s.error) + '</td></tr>'
      const cells = sections.map((sec) => { const x = s.sections[sec]; return x ? '<td class="' + cls(x.score, x.max) + '" data-section="' + esc(sec) + '">' + x.score + ' / ' + x.max + '</td>' : '<td class="muted">—</td>' })
      return '<tr data-student="' + esc(s.name) + '">' + name + '<td class="' + cls(s.score, s.max) + '" data-score="' + s.score + '">' + s.score + ' / ' + s.max + '</td>' + cells.join('') + '</tr>'
    }).join('')
    document.getElementById('status').textContent = 'Round ' + data.round + ', updated ' + new Date().toLocaleTimeString() + '.'
    document.body.dataset.round = data.round
  } catch (e) {
    document.getElementById('status').textContent = 'The board server does not answer (' + e.message + ').'
  }
}
refresh()
setInterval(refresh, ${Math.max(1000, Math.round(b.intervalS * 500))})
</script>
</body></html>
`
}

export async function serveBoard(b: BoardState, host: string, port: number): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' })
      res.end(body)
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'the class board is read-only: GET only\n')
    const url = new URL(req.url ?? '/', 'http://board')
    if (url.pathname === '/') return send(200, 'text/html', boardHtml(b))
    if (url.pathname === '/class.json') return send(200, 'application/json', JSON.stringify(classJson(b)))
    if (url.pathname === '/gradebook-moodle.csv') return send(200, 'text/csv', moodleCsv([...b.grades.values()], b.students, b.scenario.title))
    if (url.pathname === '/gradebook-canvas.csv') return send(200, 'text/csv', canvasCsv([...b.grades.values()], b.students, b.scenario.title))
    const student = /^\/student\/(.+)\.html$/.exec(url.pathname)
    if (student) {
      const base = decodeURIComponent(student[1]!)
      const name = [...b.baseNames].find(([, v]) => v === base)?.[0]
      const g = name ? b.grades.get(name) : undefined
      if (g) return send(200, 'text/html', gradeHtml(g))
      return send(404, 'text/plain', name ? `${name} has not been graded yet\n` : `no student "${base}"\n`)
    }
    return send(404, 'text/plain', 'not found\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  const address = server.address() as AddressInfo
  return { server, url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/` }
}
