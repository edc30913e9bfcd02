// The scenario's document, read where it lies at review time (beside the scenario, --docs DIR,
// the document folders): its lines, for the original sentence beside each claim, and the line
// each command of the scenario stands on. Nothing read here is written anywhere.
import { readFile } from 'node:fs/promises'
import type { LoadedScenario } from '../scenario/loader.ts'
import { resolveSourceDoc, runStepsOf, syncSteps } from '../scenario/source-sync.ts'
import type { DocumentAtHand } from './verdicts.ts'

export async function readDocument(s: LoadedScenario, folders: string[]): Promise<DocumentAtHand | { missing: string }> {
  const file = resolveSourceDoc(s.file, s.source.doc, folders)
  if (!file) return { missing: `${s.source.doc} is neither beside ${s.file} nor in a document folder (${folders.join(', ') || 'none: give --docs DIR'}): the review shows no original text` }
  const text = await readFile(file, 'utf8')
  const { found } = syncSteps(runStepsOf(await readFile(s.file, 'utf8')), text)
  return {
    file,
    // As source-sync reads documents: non-breaking spaces are spaces, lines end without \r.
    lines: text.replace(/\u00a0/g, ' ').replace(/\r\n?/g, '\n').split('\n'),
    commandLines: new Map([...found].map(([index, line]) => [index + 1, line])),
  }
}
