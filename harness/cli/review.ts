// `labproof review [FILE|DIR|ID]... [--json|--html] [--docs DIR]... [--results DIR]...`: each
// document's claims and commands with their verdicts, merged over every backend's runs.
// The help is imported by the command line at start; the review itself only when it runs.
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { LabproofConfig } from '../config.ts'
import { outputDirs } from '../output-dirs.ts'
import { parseCommand, UsageError } from './usage.ts'

export const REVIEW_HELP = `usage: labproof review [FILE|DIR|ID]... [--json | --html] [--docs DIR]... [--results DIR]...

Reviews each scenario's document (default: all the default scenarios, as for run): every claim
the scenario names (claims:) and every command of the document (run: steps not marked added),
read top to bottom, each with its verdict and evidence, and for a defect the correction and why.
Coverage first: claims named, claims asserted, commands run verbatim.

Verdicts come from the run records of every backend in the results, merged: a run on netns and
one of some scenarios with --backend qemu count together, and a step counts as run by whichever
backend ran it ("confirmed on qemu 6.1"). Claims are confirmed, refuted (the document is wrong
and the steps show what happens instead), contradicted (a step that tests it failed), not run
yet (and which backend can run it), not testable here (and why), or not asserted (no step tests
it). Commands are confirmed, confirmed only as corrected (an erratum: what the verbatim command
did, and the correction), failed, or not run yet.

The document's own sentence is shown beside each claim when the document is at hand (beside the
scenario, --docs DIR, LABPROOF_DOCS, the config's docs); it is read now and never stored.

  --json          the reviews as JSON
  --html          writes reports/review.html under the output folder (one file, opens from disk)
  --docs DIR      also look for the documents in DIR (repeatable)
  --results DIR   a run's output folder (or its reports/) to read records from, instead of the
                  current output folder (repeatable: the folders' records are merged)

Exit code: 0, or 1 when a claim is contradicted or a command failed in a run.
`

export async function reviewCommand(args: string[], config: LabproofConfig): Promise<number> {
  const { values, positionals } = parseCommand(args, {
    json: { type: 'boolean', default: false },
    html: { type: 'boolean', default: false },
    docs: { type: 'string', multiple: true },
    results: { type: 'string', multiple: true },
  }, true)
  if (values.json && values.html) throw new UsageError('review: --json and --html are two forms of the same review; give one')
  const { resolveScenarios } = await import('../scenario/selection.ts')
  const { docFolders } = await import('../scenario/source-sync.ts')
  const { reviewFailed, reviewScenarios, defaultResultDir } = await import('../review/review.ts')
  const scenarios = await resolveScenarios(positionals, { config })
  const reviews = await reviewScenarios(scenarios, {
    resultDirs: values.results?.length ? values.results.map((d) => path.resolve(d)) : [defaultResultDir()],
    docFolders: [...(values.docs ?? []).map((d) => path.resolve(d)), ...docFolders()],
  })
  if (values.json) {
    process.stdout.write(`${JSON.stringify(reviews, null, 2)}\n`)
  } else if (values.html) {
    const file = path.join(outputDirs().reports, 'review.html')
    await mkdir(path.dirname(file), { recursive: true })
    const { formatReviewHtml } = await import('../review/html.ts')
    await writeFile(file, formatReviewHtml(reviews, `${scenarios.length} document review${scenarios.length === 1 ? '' : 's'}, ${new Date().toISOString()}`))
    process.stdout.write(`review: ${file}\n`)
  } else {
    process.stdout.write((await import('../review/text.ts')).formatReviewText(reviews))
  }
  return reviewFailed(reviews) ? 1 : 0
}
