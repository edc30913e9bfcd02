// `labproof report merge DIR... --out DIR`: the shards of one suite (each run with --shard I/N,
// often on its own CI runner) made into one JUnit file and one HTML report, as if one run had
// run them all.
import { copyFile, readdir, readFile, stat } from 'node:fs/promises'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { UsageError, parseCommand, wantsHelp } from '../cli/usage.ts'
import { outputDirs } from '../output-dirs.ts'
import { writeFileAtomic } from './atomic-write.ts'
import { buildHtmlReport } from './html.ts'
import { junitXml, parseJunit, type JunitSuite } from './junit.ts'

export const REPORT_HELP = `usage: labproof report merge DIR... --out DIR [--no-html]

Merges the results of several runs, the shards of one suite (labproof run --shard I/N), into
one. Each DIR is a run's output folder (reports/junit.xml and allure-results/ in it), or a
folder holding a junit.xml or Allure results directly, as CI artifacts are often downloaded.

Writes, under --out:
  reports/junit.xml     every shard's testsuites in one file
  allure-results/       every shard's Allure results
  allure-report/        one HTML report of them all (index.html opens from disk)
--no-html leaves out the HTML report.

Exit code: 0 when every merged step passed or was skipped, 1 when one failed or the results
could not be merged, 2 for a mistake on the command line.
`

export interface ShardResults {
  dir: string
  junit?: string
  allureResults?: string
}

export async function reportCommand(args: string[]): Promise<number> {
  if (wantsHelp(args) || args.length === 0) {
    process.stdout.write(REPORT_HELP)
    return args.length === 0 ? 2 : 0
  }
  const [sub, ...rest] = args
  if (sub !== 'merge') throw new UsageError(`report: unknown subcommand "${sub}"; the one there is: merge (labproof report --help)`)
  const { values, positionals } = parseCommand(rest, { out: { type: 'string' }, 'no-html': { type: 'boolean', default: false } }, true)
  if (!values.out) throw new UsageError('report merge: --out DIR is needed (where the merged results go)')
  if (positionals.length === 0) throw new UsageError('report merge: name the shards\' result folders (DIR...)')
  const merged = await mergeResults(positionals, values.out, { html: !values['no-html'] })
  process.stdout.write(`merged ${positionals.length} result folder${positionals.length === 1 ? '' : 's'}: ${merged.tests} steps, ${merged.failures} failed, ${merged.skipped} skipped\n`)
  process.stdout.write(`JUnit: ${merged.junit}\n`)
  if (merged.html) process.stdout.write(`HTML report: ${merged.html}\n`)
  return merged.failures > 0 ? 1 : 0
}

/** Where a shard's JUnit file and Allure results are in DIR; an error when there are none. */
export async function findShardResults(dir: string): Promise<ShardResults> {
  if (!(await isDir(dir))) throw new Error(`report merge: ${dir} is not a folder`)
  const found: ShardResults = { dir }
  for (const candidate of [path.join(dir, 'reports', 'junit.xml'), path.join(dir, 'junit.xml')]) {
    if (await isFile(candidate)) {
      found.junit = candidate
      break
    }
  }
  for (const candidate of [path.join(dir, 'allure-results'), dir]) {
    if ((await isDir(candidate)) && (await readdir(candidate)).some((f) => f.endsWith('-result.json'))) {
      found.allureResults = candidate
      break
    }
  }
  if (!found.junit && !found.allureResults) throw new Error(`report merge: ${dir} holds no reports/junit.xml, junit.xml or Allure results (allure-results/*-result.json)`)
  return found
}

export interface MergeSummary {
  junit: string
  html?: string
  tests: number
  failures: number
  skipped: number
}

export async function mergeResults(dirs: string[], out: string, opts: { html: boolean }): Promise<MergeSummary> {
  const shards = await Promise.all(dirs.map(findShardResults))
  const target = outputDirs(path.resolve(out))
  // JUnit: every shard's suites; a suite in two shards means the same results were given twice.
  const suites: JunitSuite[] = []
  const from = new Map<string, string>()
  for (const shard of shards.filter((s) => s.junit)) {
    for (const suite of parseJunit(await readFile(shard.junit!, 'utf8'), shard.junit)) {
      const other = from.get(suite.name)
      if (other) throw new Error(`report merge: "${suite.name}" is in both ${other} and ${shard.junit}: were the same shard's results given twice?`)
      from.set(suite.name, shard.junit!)
      suites.push(suite)
    }
  }
  writeFileAtomic(target.junit, junitXml(suites))
  // Allure: every shard's result, container and attachment files (uuid-named) in one folder.
  await mkdir(target.allureResults, { recursive: true })
  const resultsDirs = shards.flatMap((s) => (s.allureResults ? [s.allureResults] : []))
  for (const dir of resultsDirs) {
    for (const f of await readdir(dir)) {
      if (path.resolve(dir) !== path.resolve(target.allureResults) && (await isFile(path.join(dir, f)))) await copyFile(path.join(dir, f), path.join(target.allureResults, f))
    }
  }
  const cases = suites.flatMap((s) => s.cases)
  const summary: MergeSummary = {
    junit: target.junit,
    tests: cases.length,
    failures: cases.filter((c) => c.outcome.status === 'failed' || c.outcome.status === 'error').length,
    skipped: cases.filter((c) => c.outcome.status === 'skipped').length,
  }
  if (opts.html && resultsDirs.length > 0) summary.html = await buildHtmlReport([target.allureResults], target.allureReport)
  return summary
}

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() ?? false
}

async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isFile() ?? false
}
