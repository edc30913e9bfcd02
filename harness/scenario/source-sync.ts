// Keep a scenario and its document in step: every `run:` step not marked `added: true` must be
// a command the document gives, verbatim, in the document's order. The document is read where
// it lies (a path beside the scenario, or a name in the document folders) and never copied.
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { LineCounter, parseDocument, isMap, isSeq } from 'yaml'
import { gluedAt } from '../parse/glued-heading.ts'
import { cachedParse } from './parse-cache.ts'

/** Where scenarios' documents are looked up by name: `--docs DIR` (the CLI puts it in
 *  LABPROOF_DOCS), LABPROOF_DOCS (folders separated by `:`), and `"labproof": { "docs": [...] }`
 *  in the package.json of the current directory (relative to it). */
export function docFolders(cwd = process.cwd()): string[] {
  const folders = (process.env.LABPROOF_DOCS ?? '').split(':').filter(Boolean).map((d) => path.resolve(cwd, d))
  const pkgFile = path.join(cwd, 'package.json')
  if (existsSync(pkgFile)) {
    try {
      const docs = (JSON.parse(readFileSync(pkgFile, 'utf8')) as { labproof?: { docs?: unknown } }).labproof?.docs
      if (Array.isArray(docs)) folders.push(...docs.filter((d): d is string => typeof d === 'string').map((d) => path.resolve(cwd, d)))
    } catch {
      // A package.json that is not JSON is npm's concern, not ours: no folders from it.
    }
  }
  return folders
}

/** The document's file: `doc` relative to the scenario file, else by name in `folders`;
 *  undefined when it is not at hand. */
export function resolveSourceDoc(scenarioFile: string, doc: string, folders = docFolders()): string | undefined {
  return sourceDocCandidates(scenarioFile, doc, folders).find((candidate) => existsSync(candidate))
}

/** Where the document is looked for, in order (`labproof list`'s index watches them all). */
export function sourceDocCandidates(scenarioFile: string, doc: string, folders = docFolders()): string[] {
  const besideScenario = path.resolve(path.dirname(scenarioFile), doc)
  return path.isAbsolute(doc) ? [besideScenario] : [besideScenario, ...folders.map((folder) => path.join(folder, doc))]
}

export interface StepToSync {
  /** Index in the scenario's steps. */
  index: number
  run: string
  added: boolean
  /** Line of the step in the scenario file (1-based), when known. */
  line?: number
}

export interface Drift {
  step: StepToSync
  /** Why the step is not the document's, in a sentence. */
  problem: string
}

export interface SyncResult {
  /** For each document step that was found: its document line (1-based). */
  found: Map<number, number>
  drifts: Drift[]
}

/** Text as documents are scraped: non-breaking spaces are spaces, lines end without `\r`. */
function documentLines(text: string): string[] {
  return text.replace(/\u00a0/g, ' ').replace(/\r\n?/g, '\n').split('\n')
}

/** What may stand before a command on its line: indentation, a list bullet, a shell prompt
 *  (`$ `, `# `, `[root@node1 ~]# `, `root@host:~# `, `[root@node1 ~] `). */
const LEAD = /^(\s*([•·*+-]|\d+[.)])?\s*|.*[#$>\]%]\s*)$/
/** What may follow it: nothing, or a shell comment. */
const TAIL = /^(\s*|\s+#.*)$/

/** Every line (0-based) where `command` (one or more lines) stands as a command in the document. */
export function commandOccurrences(lines: string[], command: string): number[] {
  const wanted = command.replace(/\u00a0/g, ' ').split('\n').map((l) => l.trimEnd())
  while (wanted.length > 1 && wanted.at(-1) === '') wanted.pop()
  const first = wanted[0]!.trim()
  if (!first) return []
  const at: number[] = []
  for (let i = 0; i < lines.length; i++) {
    if (!standsAsCommand(lines[i]!, first)) continue
    if (wanted.slice(1).every((w, j) => lines[i + 1 + j]?.trim() === w.trim())) at.push(i)
  }
  return at
}

function standsAsCommand(line: string, command: string): boolean {
  let at = line.indexOf(command)
  while (at >= 0) {
    const rest = line.slice(at + command.length)
    // A scraped page may run the command straight into the next heading (`… upVerify It`).
    if (LEAD.test(line.slice(0, at)) && (TAIL.test(rest) || gluedAt(line.slice(0, at + command.length), rest))) return true
    at = line.indexOf(command, at + 1)
  }
  return false
}

/** Check `steps` against the document's text. The steps kept are the longest run of them
 *  found in the document's order (so one step moved or repeated is named alone, not every
 *  step after it); the others drift. */
export function syncSteps(steps: StepToSync[], documentText: string): SyncResult {
  const lines = documentLines(documentText)
  const own = steps.filter((s) => !s.added)
  const occurrences = own.map((s) => commandOccurrences(lines, s.run))
  // chain[i][k]: the longest in-order chain ending with step i at its k-th occurrence.
  const chain = occurrences.map((occ) => occ.map(() => ({ length: 1, previous: undefined as [number, number] | undefined })))
  let best: [number, number] | undefined
  for (let i = 0; i < own.length; i++) {
    occurrences[i]!.forEach((line, k) => {
      for (let j = 0; j < i; j++) {
        occurrences[j]!.forEach((earlierLine, m) => {
          const end = earlierLine + own[j]!.run.trimEnd().split('\n').length - 1
          if (end < line && chain[j]![m]!.length + 1 > chain[i]![k]!.length) chain[i]![k] = { length: chain[j]![m]!.length + 1, previous: [j, m] }
        })
      }
      if (!best || chain[i]![k]!.length > chain[best[0]]![best[1]]!.length) best = [i, k]
    })
  }
  const found = new Map<number, number>()
  for (let at = best; at; at = chain[at[0]]![at[1]]!.previous) found.set(own[at[0]]!.index, occurrences[at[0]]![at[1]]! + 1)

  const drifts: Drift[] = []
  own.forEach((step, i) => {
    if (found.has(step.index)) return
    // The document lines between the kept steps before and after this one.
    const before = own.slice(0, i).reverse().find((s) => found.has(s.index))
    const after = own.slice(i + 1).find((s) => found.has(s.index))
    const from = before ? found.get(before.index)! : 0
    const to = after ? found.get(after.index)! - 1 : lines.length
    const where = `between the document's lines ${from} and ${to + 1}`
    if (occurrences[i]!.length) {
      drifts.push({ step, problem: `out of the document's order: the document gives it at line ${occurrences[i]!.map((l) => l + 1).join(', ')}, the steps around it are ${where} (mark it \`added: true\` if the scenario repeats it on purpose)` })
      return
    }
    const near = nearestLine(lines, step.run.split('\n')[0]!.trim(), from, to)
    drifts.push({
      step,
      problem: `not in the document` + (near ? `; ${where} the nearest line is ${near.line}: \`${near.text}\`` : '') + ' (mark it `added: true` if the scenario adds it)',
    })
  })
  return { found, drifts }
}

/** The document line most like `command` from `from` on, for a drift message: the one with the
 *  fewest character edits, when it is at least half alike. */
function nearestLine(lines: string[], command: string, from: number, to: number): { line: number; text: string } | undefined {
  let best: { line: number; text: string; distance: number } | undefined
  for (let i = from; i < Math.min(to, lines.length); i++) {
    const text = lines[i]!.trim()
    if (!text) continue
    // Compare with the end of the line: a prompt may stand before the command.
    const tail = text.length > command.length ? text.slice(text.length - command.length) : text
    const distance = editDistance(tail, command)
    if (distance <= command.length / 2 && (!best || distance < best.distance)) best = { line: i + 1, text, distance }
  }
  return best
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

/** The `run:` steps of a scenario file's text, with their lines in the file. */
export function runStepsOf(scenarioText: string): StepToSync[] {
  const counter = new LineCounter()
  const doc = parseDocument(scenarioText, { lineCounter: counter })
  const steps = doc.get('steps', true)
  if (!isSeq(steps)) return []
  const out: StepToSync[] = []
  steps.items.forEach((item, index) => {
    if (!isMap(item)) return
    const run = item.get('run')
    if (typeof run !== 'string') return
    const line = item.range ? counter.linePos(item.range[0]).line : undefined
    out.push({ index, run, added: item.get('added') === true, line })
  })
  return out
}

export class SourceDriftError extends Error {
  constructor(readonly file: string, readonly documentFile: string, readonly drifts: Drift[]) {
    super(formatDrifts(file, documentFile, drifts))
    this.name = 'SourceDriftError'
  }
}

export function formatDrifts(file: string, documentFile: string, drifts: Drift[]): string {
  return [
    `${file}: ${drifts.length} step${drifts.length > 1 ? 's' : ''} not in step with ${documentFile}:`,
    ...drifts.map((d) => `  ${file}:${d.step.line ?? '?'}: steps[${d.step.index}] runs \`${d.step.run.split('\n')[0]}\`${d.step.run.includes('\n') ? ' …' : ''}: ${d.problem}`),
  ].join('\n')
}

export type SourceCheck =
  | { status: 'in-step'; documentFile: string; steps: number; added: number }
  | { status: 'drift'; documentFile: string; error: SourceDriftError }
  | { status: 'no-document'; reason: string }

/** Check one scenario file (its text and its `source.doc`) against its document, if at hand. */
export async function checkScenarioSource(file: string, scenarioText: string, doc: string, folders = docFolders()): Promise<SourceCheck> {
  const shown = shownPath(file)
  const documentFile = resolveSourceDoc(file, doc, folders)
  if (!documentFile) {
    return { status: 'no-document', reason: `${doc} is neither beside ${shown} nor in a document folder (${folders.join(', ') || 'none: give --docs DIR or LABPROOF_DOCS'})` }
  }
  // Parsed once per text, like the scenario itself: `list` and every run check every file.
  // The comparison too, keyed by both texts: it costs more than the parse.
  const steps = cachedParse('run steps', file, scenarioText, () => runStepsOf(scenarioText))
  const documentText = await readFile(documentFile, 'utf8')
  const drifts = cachedParse(`drifts ${documentFile} ${createHash('sha256').update(documentText).digest('hex')}`, file, scenarioText, () => syncSteps(steps, documentText).drifts)
  if (drifts.length) return { status: 'drift', documentFile, error: new SourceDriftError(shown, shownPath(documentFile), drifts) }
  return { status: 'in-step', documentFile, steps: steps.filter((s) => !s.added).length, added: steps.filter((s) => s.added).length }
}

/** A path as messages show it: relative to the current directory when it is below it. */
function shownPath(file: string): string {
  const relative = path.relative(process.cwd(), file)
  return relative && !relative.startsWith('..') ? relative : path.resolve(file)
}
