#!/usr/bin/env node
// The labproof command. Installed from npm, it runs the compiled JavaScript in dist/ (built by
// `npm run build`, which prepare runs on `npm ci` and `npm pack`): the command line bundled in
// dist/cli/ (tools/bundle-cli.mjs). In a git checkout (harness/ holds the TypeScript beside
// dist/) it runs dist/ only while the build is newer than every source, else the TypeScript
// itself through tsx (a devDependency): an edit counts at once, never a stale build, at the
// price of tsx's start-up until the next `npm run build`.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../', import.meta.url))
const source = `${root}harness/cli.ts`

if (existsSync(source) && !builtAfterSources()) {
  const { register } = await import('tsx/esm/api')
  register()
  await import(new URL('../harness/cli.ts', import.meta.url).href)
} else {
  await import(new URL('../dist/cli/cli.js', import.meta.url).href)
}

/** dist/.built (written last by a successful build: its time) is newer than everything compiled
 *  into dist/. Plain paths, no URL per file: this runs before every command in a checkout. */
function builtAfterSources() {
  const built = mtime(`${root}dist/.built`)
  // A dist/ built before the command line was bundled has no dist/cli/.
  if (built === undefined || mtime(`${root}dist/cli/cli.js`) === undefined) return false
  const sources = [
    ...filesUnder(`${root}harness`),
    `${root}scenarios/labs.test.ts`,
    `${root}tsconfig.json`,
    `${root}tsconfig.build.json`,
    `${root}package.json`,
  ]
  return sources.every((f) => (mtime(f) ?? 0) <= built)
}

/** Every file and folder under `dir`: a walk by hand is a few times quicker than Node 20's
 *  recursive readdir, and this runs before every command. */
function filesUnder(dir, into = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = `${dir}/${entry.name}`
    into.push(file)
    if (entry.isDirectory()) filesUnder(file, into)
  }
  return into
}

function mtime(file) {
  return statSync(file, { throwIfNoEntry: false })?.mtimeMs
}
