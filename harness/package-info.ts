// Where labproof itself is installed (its repository, or node_modules/labproof in a user's
// repository) and its version: nothing may assume the current directory is labproof's own.
//
// Its code runs from one of two places: the TypeScript in harness/ (tests, and a checkout whose
// build is stale: bin/labproof.js) or the compiled JavaScript in dist/harness/ (the published
// package). Files that are not code (package.json, the scenarios and their schema, vagrant/,
// ci/) are at the package's root either way.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** Running the compiled JavaScript (this very module is dist/harness/package-info.js). */
export const COMPILED = import.meta.url.endsWith('.js')

/** The root of labproof's code as it runs: the package's root, or its dist/ when compiled. */
export const CODE_DIR = fileURLToPath(new URL('..', import.meta.url))

/** The package's root: package.json, scenarios/, vagrant/, ci/. */
export const PACKAGE_DIR = COMPILED ? path.dirname(CODE_DIR) : CODE_DIR

/** The example scenarios labproof ships (scenarios/ of the package). */
export const SHIPPED_SCENARIO_DIR = path.join(PACKAGE_DIR, 'scenarios')

export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(path.join(PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string }).version
