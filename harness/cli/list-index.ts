// `labproof list` answered from an index: what the same command printed last time, kept while
// nothing it was made from has changed. Loading, validating and planning every scenario (yaml,
// zod, the checks) cost most of `list`; the index costs a stat of each file it was made from.
//
// An entry is found by what the listing depends on besides files (labproof's build, the current
// directory, the arguments, the environment variables that choose scenarios, documents and
// limits), and used only while every file it was made from is as it was: the same inode, size,
// modification and change time, or still absent. Those files are the settings files of the
// current directory, the scenario files and folders (a folder's times change when a file is
// added, removed or renamed in it), and every place each scenario's document is looked for.
// Only a listing that succeeded is kept; anything else runs the full command, which reports the
// mistake as before. Running from the TypeScript (tests, a checkout whose build is stale) keeps
// no index: there is no build to name.
import { createHash } from 'node:crypto'
import { type BigIntStats, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import path from 'node:path'
import { CODE_DIR, COMPILED, PACKAGE_VERSION } from '../package-info.ts'

/** The environment variables a listing depends on (read before the config file sets any). */
const LISTING_ENV = ['LABPROOF_SCENARIO_DIR', 'LABPROOF_DOCS', 'LABPROOF_MAX_STEPS', 'LABPROOF_MAX_SCENARIO_BYTES'] as const

export interface ListIndexOptions {
  /** Where entries are kept; undefined: no index. */
  dir?: string
  /** What must be the same for an entry to be used: labproof's build. */
  build?: string
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** How long before the listing began a file must have last changed to be trusted. */
  settledMs?: number
}

interface Entry {
  key: string
  /** Each file the listing was made from, with its signature then. */
  files: [string, string][]
  output: string
}

/** Files changed this recently before a listing began may have changed while it was made
 *  (file times come from a coarse clock). */
const SETTLED_MS = 1000

/** The listing the last lookUpListing() did not find: its key, its entry's file, when it began. */
let pending: { key: string; file: string; notAfter: number } | undefined

/** What `labproof list args` printed last time, if nothing it was made from has changed. */
export function lookUpListing(args: string[], o: ListIndexOptions = defaultOptions()): string | undefined {
  pending = undefined
  const began = Date.now()
  if (!o.dir || !o.build) return undefined
  const cwd = o.cwd ?? process.cwd()
  const env = o.env ?? process.env
  const key = sha256(JSON.stringify([o.build, cwd, args, LISTING_ENV.map((name) => env[name] ?? null)]))
  const file = path.join(o.dir, `${key.slice(0, 32)}.json`)
  pending = { key, file, notAfter: began - (o.settledMs ?? SETTLED_MS) }
  let entry: Entry
  try {
    entry = JSON.parse(readFileSync(file, 'utf8')) as Entry
  } catch {
    return undefined
  }
  if (entry.key !== key || typeof entry.output !== 'string' || !Array.isArray(entry.files)) return undefined
  return entry.files.every(([f, sig]) => signature(f) === sig) ? entry.output : undefined
}

/** Keeps the listing just printed for the arguments of the last lookUpListing(), with the files
 *  it was made from. Their signatures are taken now, after the listing was made: when one of
 *  them changed shortly before it began or since, the listing is not kept (it may not be the
 *  one the signature describes). Best effort: an index that cannot be written costs the next
 *  `list` its full run, nothing else. */
export function rememberListing(output: string, files: Iterable<string>): void {
  if (!pending) return
  const { key, file, notAfter } = pending
  pending = undefined
  const signed: [string, string][] = []
  for (const f of [...new Set(files)].sort()) {
    const s = statSync(f, { throwIfNoEntry: false, bigint: true })
    if (s && Number(s.ctimeNs / 1_000_000n) >= notAfter) return
    signed.push([f, signatureOf(s)])
  }
  const entry: Entry = { key, files: signed, output }
  try {
    mkdirSync(path.dirname(file), { recursive: true })
    const temp = `${file}.${process.pid}.tmp`
    writeFileSync(temp, JSON.stringify(entry))
    renameSync(temp, file)
  } catch {
    // not kept
  }
}

/** A file as the index compares it: absent, or its inode, size, modification and change times. */
export function signature(file: string): string {
  return signatureOf(statSync(file, { throwIfNoEntry: false, bigint: true }))
}

function signatureOf(s: BigIntStats | undefined): string {
  return s ? `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}` : 'absent'
}

function defaultOptions(): ListIndexOptions {
  if (!COMPILED) return {}
  let built: string
  try {
    built = readFileSync(path.join(CODE_DIR, '.built'), 'utf8').trim()
  } catch {
    return {}
  }
  return built ? { dir: path.join(process.env.LABPROOF_CACHE || path.join(homedir(), '.cache', 'labproof'), 'list'), build: `${PACKAGE_VERSION} ${built}` } : {}
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
