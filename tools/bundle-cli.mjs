// Run by `npm run build`: the command line bundled into a few files (dist/cli/), which
// bin/labproof.js runs. Loading ~200 small modules (labproof's own, yaml's and zod's) cost more
// than `labproof list` itself: each is resolved, read and compiled on its own. The bundle keeps
// the commands apart (one chunk per dynamic import: `list` still loads no run, report or vitest
// code); every other package (vitest, allure, testcontainers, ssh2) stays external, loaded from
// node_modules as before. The vitest worker still runs dist/harness/ and dist/scenarios/ (tsc's
// output), which vitest loads by path.
//
// The chunks sit directly in dist/cli/, so `new URL('..', import.meta.url)` is dist/ in every
// chunk as in dist/harness/*.js (package-info.ts), and report/html.ts finds allurerc.json beside
// them.
import { copyFileSync } from 'node:fs'
import path from 'node:path'
import { build } from 'esbuild'

const ROOT = path.join(import.meta.dirname, '..')
// The folder a build writes (npm run build builds beside dist/, then swaps it in).
const DIST = path.resolve(process.argv[2] ?? path.join(ROOT, 'dist'))
const OUT = path.join(DIST, 'cli')
/** Packages bundled in: pure JavaScript that every command loads. */
const BUNDLED = new Set(['yaml', 'zod'])

await build({
  absWorkingDir: ROOT,
  entryPoints: { cli: 'harness/cli.ts' },
  outdir: OUT,
  chunkNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  // Less text to scan at every start; names are kept (stack traces, and the source maps).
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  sourcesContent: true,
  logLevel: 'warning',
  // yaml's build for Node is CommonJS, which requires Node's own modules.
  banner: { js: "import { createRequire as __labproofRequire } from 'node:module'; const require = __labproofRequire(import.meta.url);" },
  plugins: [{
    name: 'external-packages',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        const name = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0]
        return args.path.startsWith('node:') || BUNDLED.has(name) ? undefined : { external: true }
      })
    },
  }],
})
copyFileSync(path.join(ROOT, 'harness/report/allurerc.json'), path.join(OUT, 'allurerc.json'))
