// A document review as one self-contained HTML page (no script, no external file: it opens from
// disk and in any CI artifact viewer): per document, the coverage, then a table read top to
// bottom, each claim and command with its verdict, evidence, and correction and why.
import type { ClaimRow, CommandRow, DocumentReview, ReviewRow, StepEvidence } from './verdicts.ts'

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222 }
h2 { margin-top: 2em } table { border-collapse: collapse; width: 100% }
th, td { border: 1px solid #ccc; padding: 4px 6px; vertical-align: top; text-align: left }
th { background: #f3f3f3 } code, pre { font: 12px/1.3 ui-monospace, monospace; white-space: pre-wrap; margin: 0 }
.verdict { font-weight: bold; white-space: nowrap } .coverage { margin: .5em 0 1em }
.v-confirmed { background: #e6f4e6 } .v-refuted, .v-confirmed-only-as-corrected { background: #fff3d6 }
.v-contradicted, .v-failed { background: #fbe0e0 } .v-not-run-yet { background: #eef } .v-not-asserted, .v-not-testable-here { background: #f4f4f4 }
.original { border-left: 3px solid #999; padding-left: 6px; color: #444 } .muted { color: #666 }
`

export function formatReviewHtml(reviews: DocumentReview[], generated: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>labproof review</title><style>${STYLE}</style></head>
<body>
<h1>labproof review</h1>
<p class="muted">${esc(generated)}</p>
${reviews.map(documentHtml).join('\n')}
</body></html>
`
}

function documentHtml(r: DocumentReview): string {
  const c = r.coverage
  return `<section class="document" data-scenario="${esc(r.scenario)}">
<h2>${esc(r.doc)} — ${esc(r.section)} <span class="muted">(scenario ${esc(r.scenario)})</span></h2>
<p class="muted">document: ${esc(r.documentFile ?? r.documentNote ?? 'not at hand')}<br>backends: ${esc(r.backends.join(', ') || 'no run records yet')}</p>
<p class="coverage"><b>${c.claims}</b> claims named, <b>${c.asserted}</b> asserted${c.untestable ? `, ${c.untestable} not testable here` : ''}; <b>${c.runVerbatim}</b> of ${c.commands} commands run verbatim.
${esc(Object.entries(c.claimVerdicts).map(([k, n]) => `${n} ${k}`).join(', '))}${Object.keys(c.commandVerdicts).length ? `; commands: ${esc(Object.entries(c.commandVerdicts).map(([k, n]) => `${n} ${k}`).join(', '))}` : ''}</p>
<table>
<thead><tr><th>line</th><th>the document says</th><th>verdict</th><th>evidence</th><th>correction and why</th></tr></thead>
<tbody>
${r.rows.map(rowHtml).join('\n')}
</tbody></table>
</section>`
}

function rowHtml(row: ReviewRow): string {
  return row.kind === 'claim' ? claimHtml(row) : commandHtml(row)
}

const verdictClass = (v: string) => `v-${v.replace(/ /g, '-')}`

function claimHtml(c: ClaimRow): string {
  const line = c.lastLine !== c.line ? `${c.line}–${c.lastLine}` : String(c.line)
  const original = c.original !== undefined ? `<div class="original">${esc(c.original)}</div>` : c.lineProblem ? `<div class="muted">${esc(c.lineProblem)}</div>` : ''
  return `<tr class="claim ${verdictClass(c.verdict)}" data-claim="${esc(c.id)}"><td>${line}</td>
<td>claim <code>${esc(c.id)}</code>${original}<div>${esc(c.says)}</div></td>
<td class="verdict">${esc(c.verdict)}</td>
<td>${esc(c.detail)}${c.evidence.map(evidenceHtml).join('')}</td>
<td>${c.correction ? `${esc(c.correction)}<div class="muted">why: ${esc(c.why ?? '')}</div>` : c.untestable ? `<span class="muted">${esc(c.untestable)}</span>` : ''}</td></tr>`
}

function commandHtml(c: CommandRow): string {
  return `<tr class="command ${verdictClass(c.verdict)}" data-step="${c.step}"><td>${c.line ?? ''}</td>
<td>command${c.added ? ' (added: the document implies it)' : ''}, step ${c.step}<pre>[${esc(c.on)}] ${esc(c.command)}</pre></td>
<td class="verdict">${esc(c.verdict)}</td>
<td>${esc(c.detail)}<div>came back: <code>${esc(c.evidence.cameBack)}</code></div>${pcapsHtml(c.evidence.pcaps)}${c.claims.length ? `<div class="muted">claims: ${esc(c.claims.join(', '))}</div>` : ''}</td>
<td>${c.erratum ? `<pre>${esc(c.erratum.corrected)}</pre><div class="muted">why: ${esc(c.erratum.why)}</div>` : ''}</td></tr>`
}

function evidenceHtml(e: StepEvidence): string {
  const where = e.passedOn.length ? ` on ${[...new Set(e.passedOn)].join(', ')}` : ''
  return `<div class="evidence">step ${e.step}${e.added ? ' (added)' : ''} <code>${esc(e.title)}</code>: ${esc(e.status)}${esc(where)}: <code>${esc(e.cameBack)}</code>${pcapsHtml(e.pcaps)}</div>`
}

function pcapsHtml(pcaps: string[]): string {
  return pcaps.map((p) => `<div>pcap: <a href="file://${esc(encodeURI(p))}">${esc(p)}</a></div>`).join('')
}
