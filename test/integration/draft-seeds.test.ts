// `labproof draft` on the seed documents, where they lie (../shared/seeds beside the repository;
// skipped with that reason when absent): each draft loads as a scenario, is in step with its
// document, and finds every command the hand-written scenario takes from it.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { parse } from 'yaml'
import { draftPost } from '../../harness/draft/draft-command.ts'
import { loadScenarioFile } from '../../harness/scenario/loader.ts'
import { runStepsOf, syncSteps } from '../../harness/scenario/source-sync.ts'
import { testTempDir } from '../helpers/temp-dir.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SEEDS = path.resolve(ROOT, '..', 'shared', 'seeds')
const seeds = existsSync(SEEDS) ? readdirSync(SEEDS).filter((f) => f.endsWith('.txt')).sort() : []
const scenarios = readdirSync(path.join(ROOT, 'scenarios')).filter((f) => f.endsWith('.yaml')).map((f) => readFileSync(path.join(ROOT, 'scenarios', f), 'utf8'))

describe.skipIf(seeds.length === 0)(`labproof draft on the seed documents${seeds.length ? '' : ` (skipped: no seed documents in ${SEEDS})`}`, () => {
  test.each(seeds)('%s: the draft loads, is in step, and has the hand-written scenario\'s commands at their lines', async (seed) => {
    const post = path.join(SEEDS, seed)
    const postText = readFileSync(post, 'utf8')
    const dir = testTempDir('draft')
    const file = path.join(dir, 'draft.yaml')
    const yaml = draftPost(postText, post, file)
    await writeFile(file, yaml)
    // Loading checks the draft against its document too (source.doc is relative to the file).
    const loaded = await loadScenarioFile(file)
    expect(loaded.steps.some((s) => 'run' in s)).toBe(true)
    const drafted = new Set(runStepsOf(yaml).map((s, i) => `${[...yaml.matchAll(/# post line (\d+)\n\s*- on:/g)][i]?.[1]}:${s.run.trim()}`))
    for (const text of scenarios.filter((t) => (parse(t) as { source: { doc: string } }).source.doc === seed)) {
      const steps = runStepsOf(text)
      const { found } = syncSteps(steps, postText)
      for (const s of steps.filter((x) => !x.added)) expect(drafted, `line ${found.get(s.index)}: ${s.run}`).toContain(`${found.get(s.index)}:${s.run.trim()}`)
    }
  })
})
