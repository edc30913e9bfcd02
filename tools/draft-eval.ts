// `npm run draft-eval -- [DIR...] [--truth DIR] [--edited DIR] [--run] [--keep DIR]`: how close
// `labproof draft` gets to a hand-written scenario, post by post.
//
// Posts: the *.txt and *.md files of each DIR (default: ../shared/seeds, skipped with the reason
// when it is absent). A post's hand-written scenarios: those in scenarios/ (or --truth DIR) whose
// source.doc names it; their `run:` steps not marked `added: true` are the post's lab commands.
// For each post: the share of those commands the draft finds at their line (so in order), of
// those the share on the right host and namespace, and of shown outputs attached right. --run
// runs each draft on netns as drafted, and the hand-edited copy in --edited DIR (same file name
// as the post, .yaml) too, counting the edits between them (steps changed, dropped or added,
// and scenario fields changed). The posts' text is read where it lies, never copied.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { draftPost } from '../harness/draft/draft-command.ts'
import { parseScenario } from '../harness/scenario/loader.ts'
import { runStepsOf, syncSteps } from '../harness/scenario/source-sync.ts'

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url))
const DEFAULT_POSTS = path.resolve(PACKAGE_DIR, '..', 'shared', 'seeds')

interface TruthStep { line: number; run: string; on: string; expect?: Record<string, unknown> }
interface DraftedStep { line: number; run: string; on: string; expect?: Record<string, unknown> }

export interface PostScore {
  post: string
  commands: number
  found: number
  assignedRight: number
  outputsCompared: number
  outputsRight: number
  extra: number
  green?: string
  edits?: number
  editedGreen?: string
  misses: string[]
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      truth: { type: 'string', multiple: true },
      edited: { type: 'string' },
      run: { type: 'boolean', default: false },
      keep: { type: 'string' },
      verbose: { type: 'boolean', default: false },
    },
  })
  const dirs = positionals.length ? positionals : [DEFAULT_POSTS]
  const truthDirs = values.truth ?? [path.join(PACKAGE_DIR, 'scenarios')]
  const truths = (await Promise.all(truthDirs.map(scenarioTexts))).flat()
  const scores: PostScore[] = []
  for (const dir of dirs) {
    if (!existsSync(dir)) {
      process.stderr.write(`draft-eval: skipped ${dir}: no such folder (the seed documents live in ../shared/seeds beside the repository)\n`)
      continue
    }
    for (const name of (await readdir(dir)).filter((f) => /\.(txt|md|markdown)$/.test(f)).sort()) {
      const postFile = path.join(dir, name)
      const postText = await readFile(postFile, 'utf8')
      const work = values.keep ? path.resolve(values.keep, name.replace(/\.\w+$/, '')) : await mkdtemp(path.join(os.tmpdir(), 'labproof-draft-eval-'))
      await mkdir(work, { recursive: true })
      const draftFile = path.join(work, 'draft.yaml')
      const draftText = draftPost(postText, postFile, draftFile)
      await writeFile(draftFile, draftText)
      const drafted = draftSteps(draftText)
      const truth = truthSteps(truths.filter((t) => path.basename(t.doc) === name), postText)
      const edited = values.edited ? path.join(values.edited, name.replace(/\.\w+$/, '.yaml')) : undefined
      const editedText = edited && existsSync(edited) ? await readFile(edited, 'utf8') : undefined
      // Posts with no hand-written scenario are measured against their hand-edited draft.
      const reference = truth.length ? truth : editedText ? truthSteps([{ doc: name, text: editedText }], postText) : []
      const score = compare(name, reference, drafted, postText.split('\n'))
      if (values.run) {
        score.green = await runOnNetns(draftFile, work)
        if (editedText) {
          const editedDir = path.join(work, 'edited')
          await mkdir(editedDir, { recursive: true })
          // The edited copy names its post the way the draft does: relative to where it lies.
          const relinked = editedText.replace(/^(\s*doc:\s*).*$/m, `$1${path.relative(editedDir, postFile)}`)
          await writeFile(path.join(editedDir, 'edited.yaml'), relinked)
          score.edits = countEdits(draftText, editedText)
          score.editedGreen = await runOnNetns(path.join(editedDir, 'edited.yaml'), editedDir)
        }
      }
      scores.push(score)
      if (!values.keep) await rm(work, { recursive: true, force: true })
      if (values.verbose) for (const m of score.misses) process.stderr.write(`  ${name}: ${m}\n`)
    }
  }
  process.stdout.write(table(scores))
  return 0
}

async function scenarioTexts(dir: string): Promise<{ doc: string; text: string }[]> {
  if (!existsSync(dir)) return []
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f))
  return Promise.all(files.map(async (f) => {
    const text = await readFile(path.join(dir, f), 'utf8')
    return { doc: String((parse(text) as { source?: { doc?: string } }).source?.doc ?? ''), text }
  }))
}

/** The post's lab commands as hand-written scenarios run them, at the post's lines. */
function truthSteps(scenarios: { doc: string; text: string }[], postText: string): TruthStep[] {
  const out: TruthStep[] = []
  for (const s of scenarios) {
    const parsed = parse(s.text) as { steps: Record<string, unknown>[] }
    const { found } = syncSteps(runStepsOf(s.text), postText)
    for (const [index, line] of found) {
      const step = parsed.steps[index]!
      out.push({ line, run: String(step.run), on: String(step.on), expect: step.expect as Record<string, unknown> | undefined })
    }
  }
  return out.sort((a, b) => a.line - b.line)
}

function draftSteps(yamlText: string): DraftedStep[] {
  const steps = runStepsOf(yamlText)
  const parsed = parse(yamlText) as { steps: Record<string, unknown>[] }
  const lines = [...yamlText.matchAll(/# post line (\d+)\n\s*- (on|section):/g)].filter((m) => m[2] === 'on').map((m) => Number(m[1]))
  return steps.map((s, i) => {
    const step = parsed.steps[s.index]!
    return { line: lines[i]!, run: s.run, on: String(step.on), expect: step.expect as Record<string, unknown> | undefined }
  })
}

const isPing = (run: string) => /(^|\s)ping6?\s/.test(run)

/** A ping's claim: replies or not (no claim: exit 0, a reply). Other commands: whether the step
 *  claims output the post shows (its first line within the 40 post lines after the command);
 *  a hand-written claim of output the post does not show is not the drafter's to find. */
function claim(step: { line: number; run: string; expect?: Record<string, unknown> }, postLines: string[]): string {
  const e = step.expect ?? {}
  if (isPing(step.run)) {
    const variants = (e.variants as Record<string, unknown>[] | undefined) ?? []
    const reachable = e.reachable ?? variants.find((v) => v.reachable !== undefined)?.reachable
    return reachable === false || e.exitCode === 'nonzero' ? 'no reply' : 'replies'
  }
  const squash = (x: string) => x.trim().replace(/\s+/g, ' ')
  const after = postLines.slice(step.line, step.line + 40).map(squash)
  const claimed = [e.output, ...(Array.isArray(e.contains) ? e.contains : [e.contains])].filter((x): x is string => typeof x === 'string')
  const pattern = typeof e.matches === 'string' ? new RegExp(e.matches, 'm') : undefined
  const shown = claimed.some((c) => after.includes(squash(c.split('\n').find((l) => l.trim()) ?? ''))) ||
    Boolean(pattern && postLines.slice(step.line, step.line + 40).some((l) => l.trim() && pattern.test(l.trim())))
  return shown ? 'shows output' : 'no output claim'
}

export function compare(post: string, truth: TruthStep[], drafted: DraftedStep[], postLines: string[]): PostScore {
  const score: PostScore = { post, commands: truth.length, found: 0, assignedRight: 0, outputsCompared: 0, outputsRight: 0, extra: 0, misses: [] }
  const matched = new Set<DraftedStep>()
  for (const t of truth) {
    const d = drafted.find((x) => x.line === t.line && x.run.trim() === t.run.trim())
    if (!d) { score.misses.push(`line ${t.line}: not found: ${t.run}`); continue }
    matched.add(d)
    score.found++
    if (d.on === t.on) score.assignedRight++
    else score.misses.push(`line ${t.line}: on ${d.on}, the scenario says ${t.on}: ${t.run}`)
    score.outputsCompared++
    if (claim(d, postLines) === claim(t, postLines)) score.outputsRight++
    else score.misses.push(`line ${t.line}: drafted "${claim(d, postLines)}", the scenario "${claim(t, postLines)}": ${t.run}`)
  }
  score.extra = drafted.filter((d) => !matched.has(d)).length
  for (const d of drafted.filter((x) => !matched.has(x))) score.misses.push(`line ${d.line}: drafted, not a step of the scenario: ${d.run}`)
  return score
}

/** Edits from the draft to its hand-edited copy: each run step changed, dropped or added, each
 *  check added, each scenario field changed. Steps are paired by command, in order. */
export function countEdits(draftText: string, editedText: string): number {
  const a = parse(draftText) as Record<string, unknown> & { steps: Record<string, unknown>[] }
  const b = parse(editedText) as Record<string, unknown> & { steps: Record<string, unknown>[] }
  let edits = 0
  for (const key of ['underlay', 'hosts', 'requires', 'timeoutMs', 'capture']) {
    if (JSON.stringify(a[key] ?? null) !== JSON.stringify(b[key] ?? null)) edits++
  }
  const stepsA = a.steps.filter((s) => !('section' in s))
  const stepsB = b.steps.filter((s) => !('section' in s))
  const pairs = lcs(stepsA, stepsB, (x, y) => x.run !== undefined && x.run === y.run)
  const pairedA = new Set(pairs.map(([i]) => i))
  const pairedB = new Set(pairs.map(([, j]) => j))
  for (const [i, j] of pairs) {
    const { note: _na, ...restA } = stepsA[i]!
    const { note: _nb, ...restB } = stepsB[j]!
    if (JSON.stringify(restA) !== JSON.stringify(restB)) edits++
  }
  edits += stepsA.filter((_, i) => !pairedA.has(i)).length
  edits += stepsB.filter((_, j) => !pairedB.has(j)).length
  return edits
}

function lcs<T>(a: T[], b: T[], same: (x: T, y: T) => boolean): [number, number][] {
  const n = a.length
  const m = b.length
  const t = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0))
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) t[i]![j] = same(a[i]!, b[j]!) ? t[i + 1]![j + 1]! + 1 : Math.max(t[i + 1]![j]!, t[i]![j + 1]!)
  const out: [number, number][] = []
  for (let i = 0, j = 0; i < n && j < m;) {
    if (same(a[i]!, b[j]!)) { out.push([i, j]); i++; j++ } else if (t[i + 1]![j]! >= t[i]![j + 1]!) i++
    else j++
  }
  return out
}

/** Runs one scenario file on netns through the CLI: "green", or how many steps failed and the first. */
async function runOnNetns(file: string, work: string): Promise<string> {
  const id = parseScenario(await readFile(file, 'utf8'), file).id
  const out = path.join(work, 'out')
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(PACKAGE_DIR, 'harness', 'cli.ts'), 'run', id], {
    timeout: 600_000,
    encoding: 'utf8',
    env: { ...process.env, LABPROOF_SCENARIO_DIR: path.dirname(file), LABPROOF_OUTPUT_DIR: out },
    cwd: PACKAGE_DIR,
  })
  if (r.status === 0) return 'green'
  const junit = existsSync(path.join(out, 'reports', 'junit.xml')) ? await readFile(path.join(out, 'reports', 'junit.xml'), 'utf8') : ''
  const failed = [...junit.matchAll(/<testcase [^>]*name="([^"]*)"[^>]*>\s*<failure/g)].map((m) => m[1]!)
  if (failed.length === 0) return `error: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ').slice(0, 200)}`
  return `${failed.length} failed, first ${failed[0]!.replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').slice(0, 90)}`
}

function pct(n: number, d: number): string {
  return d ? `${((100 * n) / d).toFixed(1)}%` : '-'
}

export function table(scores: PostScore[]): string {
  const rows = scores.map((s) => `| ${s.post} | ${s.commands} | ${s.found} (${pct(s.found, s.commands)}) | ${pct(s.assignedRight, s.found)} | ${pct(s.outputsRight, s.outputsCompared)} | ${s.extra} | ${s.green ?? '-'} | ${s.edits ?? '-'} | ${s.editedGreen ?? '-'} |`)
  const sum = (f: (s: PostScore) => number) => scores.reduce((n, s) => n + f(s), 0)
  const total = `| **all** | ${sum((s) => s.commands)} | ${sum((s) => s.found)} (${pct(sum((s) => s.found), sum((s) => s.commands))}) | ${pct(sum((s) => s.assignedRight), sum((s) => s.found))} | ${pct(sum((s) => s.outputsRight), sum((s) => s.outputsCompared))} | ${sum((s) => s.extra)} | | | |`
  return [
    '| post | lab commands | found in order | right host/namespace | outputs right | extra commands | draft on netns | edits | edited on netns |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |',
    ...rows,
    total,
    '',
  ].join('\n')
}

main().then((code) => { process.exitCode = code }, (e: unknown) => {
  process.stderr.write(`draft-eval: ${e instanceof Error ? e.stack : String(e)}\n`)
  process.exitCode = 1
})
