#!/usr/bin/env node
// The labproof command. Installed from npm, it runs the compiled JavaScript in dist/ (built by
// `npm run build`, which prepare runs on `npm ci` and `npm pack`). In a git checkout (harness/
// holds the TypeScript beside dist/) it runs dist/ only while the build is newer than every
// source, else the TypeScript itself through tsx (a devDependency): an edit counts at once,
// never a stale build, at the price of tsx's start-up until the next `npm run build`.
import { existsSync, readdirSync, statSync } from 'node:fs'

const root = new URL('../', import.meta.url)
const source = new URL('harness/cli.ts', root)

if (existsSync(source) && !builtAfterSources()) {
  const { register } = await import('tsx/esm/api')
  register()
  await import(source.href)
} else {
  await import(new URL('dist/harness/cli.js', root).href)
}

/** dist/.built (written last by a successful build: its time) is newer than everything compiled into dist/. */
function builtAfterSources() {
  const built = mtime(new URL('dist/.built', root))
  if (built === undefined) return false
  const sources = [
    ...readdirSync(new URL('harness/', root), { recursive: true }).map((f) => new URL(`harness/${f}`, root)),
    new URL('scenarios/labs.test.ts', root),
    new URL('tsconfig.json', root),
    new URL('tsconfig.build.json', root),
    new URL('package.json', root),
  ]
  return sources.every((f) => (mtime(f) ?? 0) <= built)
}

function mtime(url) {
  try {
    return statSync(url).mtimeMs
  } catch {
    return undefined
  }
}
