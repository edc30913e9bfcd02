// Where labproof itself is installed (its repository, or node_modules/labproof in a user's
// repository) and its version: nothing may assume the current directory is labproof's own.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url))

/** The example scenarios labproof ships (scenarios/ of the package). */
export const SHIPPED_SCENARIO_DIR = path.join(PACKAGE_DIR, 'scenarios')

export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(path.join(PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string }).version
