// Saved VM pairs: the qemu backend boots each kernel's pair once, saves it (every VM's memory
// and device state by qemu migration to a file, its disk frozen as a qcow2 overlay) and
// restores every later lab on that kernel from the save with fresh overlays of its own.
//
// The saves are a named cache kept across runs (`<cache>/vm/saved/<key>/`, or
// LABPROOF_QEMU_SAVED_CACHE): a later run restores in about a second where the first boots,
// probes and saves for 15-20 s under TCG. `labproof clean` empties it. Each entry is
// immutable once written: a save is made in `.partial-<owner>-…` beside it and renamed into
// place whole, so a run never reads half a save. A partial directory goes with its run: a
// small process holds the read end of a pipe whose write end only this process has, and
// removes the directory when it sees the end of the pipe, however this process ends (exit,
// signal, SIGKILL); what it could not remove, `labproof clean` does (by owner).
//
// LABPROOF_QEMU_SAVED_CACHE=off keeps the saves for the run only (in `$TMPDIR`, removed the
// same way when the run ends).
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import type { Capabilities } from '../../host.ts'
import { ownerAlive, ownerTag, OWNER_TAG_PATTERN, parseOwnerTag } from '../../ownership/owner.ts'
import { cacheRoot } from '../shared/vm-image.ts'

export interface SavedVm {
  /** The frozen disk: a qcow2 overlay of the base image; later labs put their overlays on it. */
  disk: string
  /** qemu's migration stream of the VM, as `-incoming exec:cat FILE` reads it. */
  state: string
  /** What the guest's kernel and tools can do, probed before the save (a restored guest is the
   *  same kernel and image, with the probe's modules loaded): later labs do not probe again. */
  capabilities?: Capabilities
}

export interface SavedPair {
  /** By host index, as the topology lists them. */
  vms: SavedVm[]
  /** What the guests were told at boot: a lab whose topology names them otherwise renames
   *  them after the restore (the underlay is down and unaddressed in the save). */
  booted: { underlayInterface: string; hostnames: string[] }
  /** The lab whose boot was saved, and when (for the report). */
  fromLab: string
  savedAt: number
  /** Where it lies when an earlier run saved it (its cache entry); absent for this run's own. */
  earlier?: string
  /** What it is a save of (kernel series, accelerator, hosts), whatever made it: a kept save
   *  replaces those of the same kind an older qemu or labproof made, never booted again. */
  kind?: string
}

export interface SaveClaim {
  /** Where this save's files go. */
  dir: string
  /** Keep the save (its files in `dir`) for every later lab; resolves once it is in place. */
  commit(pair: SavedPair): Promise<void>
  /** Saving failed or was not attempted: its files go, and the next lab boots (and saves)
   *  instead. */
  abandon(): void
}

const PAIR_FILE = 'pair.json'
const PARTIAL_PREFIX = '.partial-'

/** Where the saves are kept across runs; undefined: for the run only. */
export function savedCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const set = env.LABPROOF_QEMU_SAVED_CACHE
  if (set === 'off') return undefined
  return set || join(cacheRoot(env), 'saved')
}

export class SavedStates {
  private runDir?: Promise<string>
  private readonly pairs = new Map<string, Promise<SavedPair | undefined>>()

  constructor(private readonly prefix: string, private readonly cacheDir: () => string | undefined = savedCacheDir) {}

  /** The save for `key` (this run's, once whoever is saving it has finished, or an earlier
   *  run's from the cache); undefined when none. */
  get(key: string): Promise<SavedPair | undefined> {
    const known = this.pairs.get(key)
    if (known) return known
    const cache = this.cacheDir()
    if (!cache) return Promise.resolve(undefined)
    const reading = readEntry(join(cache, entryName(key)))
    this.pairs.set(key, reading)
    // A miss is not remembered: the next look may find a save another run has made since.
    void reading.then((found) => {
      if (!found && this.pairs.get(key) === reading) this.pairs.delete(key)
    })
    return reading
  }

  /** Take the job of saving `key`; undefined when another lab of this run has it already. */
  async claim(key: string): Promise<SaveClaim | undefined> {
    if (this.pairs.has(key)) return undefined
    let settle!: (p: SavedPair | undefined) => void
    this.pairs.set(key, new Promise((resolve) => (settle = resolve)))
    const cache = this.cacheDir()
    let dir: string
    try {
      if (cache) {
        await mkdir(cache, { recursive: true })
        dir = await mkdtemp(join(cache, `${PARTIAL_PREFIX}${ownerTag()}-`))
        removeWhenThisProcessEnds(dir)
      } else {
        dir = await mkdtemp(join(await this.root(), 'pair-'))
      }
    } catch (e) {
      this.pairs.delete(key)
      settle(undefined)
      throw e
    }
    const abandon = () => {
      this.pairs.delete(key)
      settle(undefined)
      void rm(dir, { recursive: true, force: true })
    }
    return {
      dir,
      commit: async (pair) => {
        if (!cache) return settle(pair)
        // Written whole, then renamed into place; when another run got there first, this run
        // keeps its own (removed with the partial directory when the run ends).
        await writeFile(join(dir, PAIR_FILE), JSON.stringify({ ...pair, vms: pair.vms.map((v) => ({ ...v, disk: basename(v.disk), state: basename(v.state) })) }))
        const entry = join(cache, entryName(key))
        const placed = await rename(dir, entry).then(() => true, () => false)
        settle(placed ? withDir(pair, entry) : pair)
        if (placed && pair.kind) await removeReplaced(cache, basename(entry), pair.kind)
      },
      abandon,
    }
  }

  /** A save that would not restore: later labs boot again; an earlier run's is removed. */
  async forget(key: string, pair: SavedPair): Promise<void> {
    this.pairs.delete(key)
    if (pair.earlier) await rm(pair.earlier, { recursive: true, force: true })
  }

  /** The run's own directory for saves kept for the run only, made with its remover. */
  private root(): Promise<string> {
    this.runDir ??= (async () => {
      const dir = await mkdtemp(join(tmpdir(), `${this.prefix}-saved-${ownerTag()}-`))
      removeWhenThisProcessEnds(dir)
      return dir
    })()
    return this.runDir
  }
}

/** An entry's directory name: the key is long (paths, versions); its hash is not. */
function entryName(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 24)
}

async function readEntry(entry: string): Promise<SavedPair | undefined> {
  try {
    const pair = JSON.parse(await readFile(join(entry, PAIR_FILE), 'utf8')) as SavedPair
    return { ...withDir(pair, entry), earlier: entry }
  } catch {
    return undefined
  }
}

function withDir(pair: SavedPair, dir: string): SavedPair {
  return { ...pair, vms: pair.vms.map((v) => ({ ...v, disk: join(dir, basename(v.disk)), state: join(dir, basename(v.state)) })) }
}

/** Kept saves of `kind` other than `kept`: made by an older qemu or labproof, or of an older
 *  image, and never restored again. (A run still restoring from one has its files open.) */
async function removeReplaced(cache: string, kept: string, kind: string): Promise<void> {
  for (const name of await readdir(cache).catch(() => [] as string[])) {
    if (name === kept || name.startsWith(PARTIAL_PREFIX)) continue
    const pair = await readEntry(join(cache, name))
    if (pair?.kind === kind) await rm(join(cache, name), { recursive: true, force: true })
  }
}

/** `labproof clean`: every kept save, and the partial ones of runs that are gone. */
export async function emptySavedCache(cache = savedCacheDir()): Promise<string[]> {
  if (!cache) return []
  const removed: string[] = []
  for (const name of await readdir(cache).catch(() => [] as string[])) {
    if (name.startsWith(PARTIAL_PREFIX)) {
      const owner = parseOwnerTag(new RegExp(`^${PARTIAL_PREFIX}(${OWNER_TAG_PATTERN})-`).exec(name)?.[1])
      if (owner && ownerAlive(owner)) continue
    }
    await rm(join(cache, name), { recursive: true, force: true })
    removed.push(`${name.startsWith(PARTIAL_PREFIX) ? 'a partial VM save' : 'saved VM pair'} (${join(cache, name)})`)
  }
  return removed
}

/** A detached `sh` that waits for the end of a pipe only this process writes to, then removes
 *  `dir`. Node opens its pipes close-on-exec, so no child of this process holds the pipe. */
function removeWhenThisProcessEnds(dir: string): void {
  const remover = spawn('sh', ['-c', 'cat >/dev/null; rm -rf -- "$1"', 'labproof-saved-state-remover', dir], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  })
  remover.on('error', () => {}) // no sh: `labproof clean` removes the directory instead
  remover.stdin!.on('error', () => {})
  remover.unref()
  ;(remover.stdin as unknown as { unref?: () => void }).unref?.()
}
