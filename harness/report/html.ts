// The HTML report: Allure 3's "awesome" report written as one self-contained index.html (no
// server needed: it opens from disk), its tree grouped by source document (epic), scenario
// (feature) and section (story), each step a test. The allure CLI is found through Node's module
// resolution, from wherever npm installed it.
//
// Two fixes to what allure 3.18 writes, so the file really works offline: its app script runs
// before the embedded data is declared, finds none and fetches widgets/*.json from disk, which
// a browser refuses for a file:// page (an endless spinner); declaring the data store first
// makes the app wait for the embedded data. And its page loads Google Analytics, which a report
// of a lab that sends no packet off the machine should not do either: that script is removed.
import { readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { runProcess } from '../local-process.ts'

export const ALLURE_CONFIG = fileURLToPath(new URL('./allurerc.json', import.meta.url))
const GENERATE_TIMEOUT_MS = 300_000

/** The allure command line's script (allure's package root holds cli.js). */
export function allureCli(): string {
  const main = createRequire(import.meta.url).resolve('allure')
  let dir = path.dirname(main)
  while (path.basename(dir) !== 'allure' && path.dirname(dir) !== dir) dir = path.dirname(dir)
  return path.join(dir, 'cli.js')
}

/** Builds `outDir/index.html` from one or more allure-results folders; throws one line why not. */
export async function buildHtmlReport(resultsDirs: string[], outDir: string): Promise<string> {
  await rm(outDir, { recursive: true, force: true })
  const r = await runProcess(process.execPath, [allureCli(), 'generate', ...resultsDirs.map((d) => path.resolve(d)), '--output', path.resolve(outDir), '--config', ALLURE_CONFIG], { timeoutMs: GENERATE_TIMEOUT_MS })
  if (r.exitCode !== 0) {
    const why = `${r.stderr}\n${r.stdout}`.split('\n').map((l) => l.trim()).filter(Boolean).at(-1) ?? `exit code ${r.exitCode}`
    throw new Error(`the HTML report could not be built (allure generate): ${why}`)
  }
  const index = path.join(path.resolve(outDir), 'index.html')
  await writeFile(index, offline(await readFile(index, 'utf8')))
  return index
}

const DATA_FIRST = '<script>window.allureReportData = window.allureReportData || {}; window.allureReportDataReady = false;</script>'

/** The single-file page with its data declared before the app runs, and without analytics. */
export function offline(html: string): string {
  if (!html.includes('window.allureReportData')) throw new Error('the HTML report could not be built: allure wrote no embedded data (is the awesome plugin\'s singleFile option set?)')
  return html
    .replace(/<head>/, `<head>\n    ${DATA_FIRST}`)
    .replace(/<script[^>]*googletagmanager[^>]*><\/script>\s*<script>[^<]*gtag\([^<]*<\/script>/, '')
}
