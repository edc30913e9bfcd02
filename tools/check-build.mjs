// Run by `npm run build`: fails when dist/ still imports a .ts file, which the published package
// (no TypeScript, no tsx) could not load. tsc's rewriteRelativeImportExtensions misses some
// (a dynamic import inside `export default f(...)`, tsc 5.9).
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

// The folder a build wrote (npm run build builds beside dist/, then swaps it in).
const DIST = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, '..', 'dist'))
const TS_IMPORT = /(?:\bimport\(\s*|^\s*(?:import|export)\b[^'"\n]*\bfrom\s*)(['"])\.{1,2}\/[^'"\n]*\.[cm]?ts\1/gm

const found = []
for (const file of readdirSync(DIST, { recursive: true })) {
  if (!file.endsWith('.js')) continue
  const text = readFileSync(path.join(DIST, file), 'utf8')
  for (const m of text.matchAll(TS_IMPORT)) found.push(`${path.relative(process.cwd(), DIST)}/${file}:${text.slice(0, m.index).split('\n').length}: ${m[0].trim()}`)
}
if (found.length) {
  process.stderr.write(`build: dist/ imports TypeScript the published package cannot load (name the value, then export it):\n${found.map((f) => `  ${f}`).join('\n')}\n`)
  process.exit(1)
}
