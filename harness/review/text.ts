// A document review as text for the terminal: coverage at the top, then each claim and command
// as the document reads, with its verdict, evidence and, for a defect, the correction and why.
import type { ClaimRow, CommandRow, DocumentReview, StepEvidence } from './verdicts.ts'

export function formatReviewText(reviews: DocumentReview[]): string {
  return reviews.map(formatOne).join('\n\n') + '\n'
}

function formatOne(r: DocumentReview): string {
  const c = r.coverage
  const head = [
    `${r.doc} — ${r.section} (scenario ${r.scenario})`,
    `  document: ${r.documentFile ?? r.documentNote ?? 'not at hand'}`,
    `  backends: ${r.backends.length ? r.backends.join(', ') : 'no run records yet (labproof run, then review again)'}`,
    `  coverage: ${c.claims} claims named, ${c.asserted} asserted${c.untestable ? `, ${c.untestable} not testable here` : ''}; ${c.runVerbatim} of ${c.commands} commands run verbatim`,
    `  verdicts: ${counts(c.claimVerdicts) || 'no claims'}; commands: ${counts(c.commandVerdicts) || 'none'}`,
  ]
  const rows = r.rows.map((row) => (row.kind === 'claim' ? claimText(row) : commandText(row)))
  return [...head, '', ...rows].join('\n')
}

function counts(m: Partial<Record<string, number>>): string {
  return Object.entries(m).map(([k, n]) => `${n} ${k}`).join(', ')
}

const pad = (label: string) => `    ${label.padEnd(12)}`

function claimText(c: ClaimRow): string {
  const out = [`${lineLabel(c.line, c.lastLine)} claim ${c.id}: ${c.verdict.toUpperCase()}`, `${pad('says')}${c.says}`]
  if (c.original !== undefined) out.push(...indented('document', c.original))
  if (c.lineProblem) out.push(`${pad('document')}${c.lineProblem}`)
  out.push(`${pad('verdict')}${c.detail}`)
  for (const e of c.evidence) out.push(...evidenceText(e))
  if (c.correction) out.push(`${pad('correction')}${c.correction}`)
  if (c.why) out.push(`${pad('why')}${c.why}`)
  return out.join('\n')
}

function commandText(c: CommandRow): string {
  const out = [`${lineLabel(c.line)} command${c.added ? ' (added: the document implies it)' : ''}, step ${c.step}: ${c.verdict.toUpperCase()}`, ...indented('verbatim', `[${c.on}] ${c.command}`), `${pad('verdict')}${c.detail}`]
  out.push(`${pad('came back')}${c.evidence.cameBack}`)
  if (c.erratum) out.push(...indented('correction', c.erratum.corrected), `${pad('why')}${c.erratum.why}`)
  if (c.evidence.pcaps.length) out.push(...c.evidence.pcaps.map((p) => `${pad('pcap')}${p}`))
  if (c.claims.length) out.push(`${pad('claims')}${c.claims.join(', ')}`)
  return out.join('\n')
}

function evidenceText(e: StepEvidence): string[] {
  const where = e.passedOn.length ? ` (${[...new Set(e.passedOn)].join(', ')})` : ''
  return [
    `${pad('evidence')}step ${e.step}${e.added ? ' (added)' : ''} ${e.title.split('\n')[0]}${e.title.includes('\n') ? ' …' : ''}: ${e.status}${where}: ${e.cameBack}`,
    ...e.pcaps.map((p) => `${pad('pcap')}${p}`),
  ]
}

function lineLabel(line?: number, last?: number): string {
  return (line === undefined ? 'line ?' : last && last !== line ? `lines ${line}-${last}` : `line ${line}`).padEnd(13)
}

function indented(label: string, text: string): string[] {
  return text.split('\n').map((l, i) => `${i ? pad('') : pad(label)}${l}`)
}
