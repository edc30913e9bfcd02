// What labproof reads out of a scenario file (the validated scenario, its steps' lines), kept by
// the file's text so that a file is parsed once: once per process, and, for the compiled package,
// once per build of labproof across processes (`labproof list`, a run's CLI, its vitest worker
// and its JUnit reporter all read the same files; YAML parsing and validation are most of what a
// command costs before any lab starts).
//
// An entry is used only for the very same text, read by the very same labproof build (dist/.built)
// and the same limits, so an edited file, an upgrade or a rebuild parses afresh. A value that
// does not come back from JSON unchanged is not kept. Running from the TypeScript (tests, a
// checkout whose build is stale) keeps entries in memory only: there is no build to name.
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import path from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { CODE_DIR, COMPILED, PACKAGE_VERSION } from '../package-info.ts'

export interface ParseCacheOptions {
  /** Where entries are kept across processes; undefined: in memory only. */
  dir?: string
  /** What must be the same for an entry to be used: labproof's build. */
  build?: string
}

interface Entry {
  key: string
  json: string
}

const memory = new Map<string, string>()

/** The value `compute` reads out of `file`'s `text` (`kind` names what is read and everything
 *  else it depends on), from the cache when it holds it for this text. */
export function cachedParse<T>(kind: string, file: string, text: string, compute: () => T, options: ParseCacheOptions = defaultOptions()): T {
  const key = sha256(JSON.stringify([options.build ?? '', kind, path.resolve(file), file, sha256(text)]))
  const known = memory.get(key) ?? readEntry(options.dir, kind, file, key)
  if (known !== undefined) {
    memory.set(key, known)
    return JSON.parse(known) as T
  }
  const value = compute()
  const json = JSON.stringify(value)
  if (json === undefined || !isDeepStrictEqual(JSON.parse(json), value)) return value
  memory.set(key, json)
  writeEntry(options.dir, kind, file, { key, json })
  return value
}

/** Forget what this process parsed, as a new process would have (tests). */
export function forgetParsed(): void {
  memory.clear()
}

function defaultOptions(): ParseCacheOptions {
  if (!COMPILED) return {}
  const build = builtAt()
  if (build === undefined) return {}
  return { dir: path.join(process.env.LABPROOF_CACHE || path.join(homedir(), '.cache', 'labproof'), 'parsed'), build: `${PACKAGE_VERSION} ${build}` }
}

let built: string | undefined | null = null

/** What dist/.built says (the time of the build), read once. */
function builtAt(): string | undefined {
  if (built === null) {
    try {
      built = readFileSync(path.join(CODE_DIR, '.built'), 'utf8').trim() || undefined
    } catch {
      built = undefined
    }
  }
  return built
}

/** One file per scenario file and kind: an edit replaces its entry, so the cache stays as small
 *  as the set of files read. */
function entryFile(dir: string, kind: string, file: string): string {
  return path.join(dir, `${sha256(`${kind}\0${path.resolve(file)}`).slice(0, 32)}.json`)
}

function readEntry(dir: string | undefined, kind: string, file: string, key: string): string | undefined {
  if (!dir) return undefined
  try {
    const entry = JSON.parse(readFileSync(entryFile(dir, kind, file), 'utf8')) as Entry
    return entry.key === key && typeof entry.json === 'string' ? entry.json : undefined
  } catch {
    return undefined
  }
}

/** Best effort: a cache that cannot be written (a read-only home) costs a parse, nothing else. */
function writeEntry(dir: string | undefined, kind: string, file: string, entry: Entry): void {
  if (!dir) return
  try {
    mkdirSync(dir, { recursive: true })
    const target = entryFile(dir, kind, file)
    const temp = `${target}.${process.pid}.tmp`
    writeFileSync(temp, JSON.stringify(entry))
    renameSync(temp, target)
  } catch {
    // not kept
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
