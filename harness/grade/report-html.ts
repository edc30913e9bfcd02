// A student's grade as one self-contained HTML page a teaching assistant can read without
// knowing labproof: the score, each check in plain words with its result, what to do about a
// failed one, and the commands that were run with what came back.
import type { MachineCondition } from './conditions.ts'
import type { GradedCheck, StudentGrade } from './grade.ts'

const esc = (s: string | number) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

const STATUS_LABEL: Record<GradedCheck['status'], string> = {
  passed: 'passed',
  failed: 'FAILED',
  'needs-setup': 'not graded (needs setup)',
}

const STYLE = `
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 62em; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 2em; }
.score { font-size: 2.2em; font-weight: 600; } .muted { color: #666; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #ddd; vertical-align: top; }
.passed { color: #17692b; } .failed { color: #b00020; font-weight: 600; } .needs-setup { color: #7a5b00; }
.error { background: #fde8ea; border: 1px solid #b00020; padding: .8em 1em; border-radius: 4px; }
.check { border: 1px solid #ddd; border-radius: 4px; padding: .6em 1em; margin: .8em 0; }
.hint { background: #eef6ff; padding: .4em .8em; border-radius: 4px; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: 13px; white-space: pre-wrap; }
`

/** A command's output as a person reads it: JSON (ip -j, bridge -j) indented, the rest as is. */
export function prettyOutput(text: string): string {
  const t = text.trim()
  if (!/^[[{]/.test(t)) return text.trimEnd()
  try {
    return JSON.stringify(JSON.parse(t), null, 2)
  } catch {
    return text.trimEnd()
  }
}

const pointsText = (n: number) => `${n} point${n === 1 ? '' : 's'}`

function evidenceHtml(c: GradedCheck): string {
  if (!c.evidence.length) return ''
  const runs = c.evidence.map((e) => {
    const out = [prettyOutput(e.stdout), e.stderr.trim() ? `(stderr) ${e.stderr.trimEnd()}` : ''].filter(Boolean).join('\n') || '(no output)'
    // As one would type it on the machine to see the same thing.
    const netns = e.where.split('/')[1]
    const typed = netns ? `ip netns exec ${netns} ${e.command}` : e.command
    return `<pre>$ ${esc(typed)}    <span class="muted"># on ${esc(e.where.split('/')[0]!)}, exit ${e.exitCode}${e.timedOut ? ', killed: timed out' : ''}, ${e.ms} ms</span>\n${esc(out)}</pre>`
  })
  return `<details${c.status === 'failed' ? ' open' : ''}><summary>commands run and what came back</summary>${runs.join('')}</details>`
}

function checkHtml(c: GradedCheck, conditions: MachineCondition[]): string {
  const what = c.item ? `End state (built by step ${c.step}): ${esc(c.title)}` : `Step ${c.step}: ${esc(c.title)}`
  // A check left out of the score shows no points at all.
  const points = c.status === 'needs-setup' ? '' : `, ${c.earned} of ${pointsText(c.points)}`
  const parts = [`<div class="check"><b>${what}</b> — <span class="${c.status}">${STATUS_LABEL[c.status]}</span>${points}`]
  if (c.status === 'failed') {
    if (c.expected) parts.push(`<p>Expected: ${esc(c.expected)}<br>Found: ${esc(c.got ?? '')}</p>`)
    else parts.push(`<p>Found: ${esc(c.got ?? '')}</p>`)
    if (c.hint) parts.push(`<p class="hint">What to do: ${esc(c.hint)}</p>`)
  }
  for (const name of c.dependsOn ?? []) {
    const condition = conditions.find((x) => x.name === name)
    if (condition) parts.push(`<p class="muted">Depends on this machine: ${esc(condition.name)} ${esc(condition.value)} — ${esc(condition.effect)}.</p>`)
  }
  if (c.status === 'passed' && c.summary) parts.push(`<p class="muted">${esc(c.summary)}</p>`)
  if (c.status === 'needs-setup') parts.push(`<p class="muted">Left out of the score: ${esc(c.reason ?? '')}</p>`)
  parts.push(evidenceHtml(c), '</div>')
  return parts.join('\n')
}

export function gradeHtml(g: StudentGrade): string {
  const rows = g.checks.map((c) =>
    `<tr><td>${c.step}</td><td>${c.item ? 'end state: ' : ''}${esc(c.title)}</td><td>${c.status === 'needs-setup' ? '' : `${c.earned} / ${c.points}`}</td><td class="${c.status}">${STATUS_LABEL[c.status]}</td></tr>`)
  const failed = g.checks.filter((c) => c.status === 'failed')
  const passed = g.checks.filter((c) => c.status === 'passed')
  const notGraded = g.checks.filter((c) => c.status === 'needs-setup')
  const section = (title: string, list: GradedCheck[]) => (list.length ? `<h2>${title}</h2>\n${list.map((c) => checkHtml(c, g.conditions)).join('\n')}` : '')
  const lab = `playing <b>${esc(g.role)}</b> of the lab <i>${esc(g.scenario.title)}</i> (scenario <code>${esc(g.scenario.id)}</code>, from document ${esc(g.scenario.doc)}, section ${esc(g.scenario.section)})`
  const intro = g.invalidRow
    ? `<p>labproof did not grade this student: their row of the class list cannot be graded as written (below), so nothing was checked and the score is 0.</p>`
    : g.reached
    ? `<p>labproof checked this student's machine, <code>${esc(g.target)}</code>${g.hostname ? ` (hostname <code>${esc(g.hostname)}</code>${g.kernel ? `, kernel ${esc(g.kernel)}` : ''})` : ''},
${lab}. Only read-only commands were run: nothing on the machine was changed. Checks that need parts of the lab the grader does not control are listed as not graded and do not count.
${g.endState === 'compared' ? 'Besides the lab\'s own checks, the machine was compared item by item with the state the finished lab leaves (its links, addresses, bridge ports, routes, sysctls and iptables rules).' : ''}</p>`
    : `<p>labproof could not reach this student's machine, <code>${esc(g.target)}</code>, which was to play <b>${esc(g.role)}</b> of the lab <i>${esc(g.scenario.title)}</i>: nothing on it was checked, and the score is 0 until it can be reached.</p>`
  const sections = g.sections.length
    ? `<h2>By section</h2>\n<table><tr><th>Section of the lab</th><th>Points</th></tr>\n${g.sections.map((x) => `<tr><td>${esc(x.section)}</td><td>${x.score} / ${x.max}</td></tr>`).join('\n')}\n</table>`
    : ''
  const conditions = g.conditions.length
    ? `<h2>This machine</h2>\n<ul>${g.conditions.map((c) => `<li><b>${esc(c.name)}</b>: ${esc(c.value)} — ${esc(c.effect)}</li>`).join('')}</ul>`
    : ''
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(g.name)} — ${esc(g.scenario.id)}: ${g.score}/${g.max}</title>
<style>${STYLE}</style></head><body>
<h1>${esc(g.name)} — ${esc(g.scenario.title)}</h1>
<p class="score">${g.score} / ${g.max} points <span class="muted">(${g.percent}%)</span></p>
${intro}
<p class="muted">${g.machine ? `Reached as ${esc(g.machine)}. ` : ''}Graded ${esc(g.startedAt)} in ${(g.ms / 1000).toFixed(1)} s.</p>
${g.error ? `<p class="error"><b>${g.reached || g.invalidRow ? 'Not graded' : 'Could not be reached'} — scored 0.</b> ${esc(g.error)}</p>` : ''}
${sections}
${conditions}
${rows.length ? `<h2>Checks</h2>\n<table><tr><th>Step</th><th>What is checked</th><th>Points</th><th>Result</th></tr>\n${rows.join('\n')}\n</table>` : ''}
${section('Failed checks', failed)}
${section('Passed checks', passed)}
${section('Not graded', notGraded)}
</body></html>
`
}
