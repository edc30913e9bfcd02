// Saved VM pairs of one run: the qemu backend boots each kernel's pair once, saves it (every VM's
// memory and device state by qemu migration to a file, its disk frozen as a qcow2 overlay) and
// restores every later lab on that kernel from the save with fresh overlays of its own.
//
// The saves live in `$TMPDIR/labproof-qemu-saved-<owner>-…` (PID and start time), which goes with the run: a
// small process holds the read end of a pipe whose write end only this process has, and removes
// the directory when it sees the end of the pipe, however this process ends (exit, signal,
// SIGKILL). What a remover could not remove, the next run and `labproof clean` do (by owner).
import { spawn } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Capabilities } from '../../host.ts'
import { ownerTag } from '../../ownership/owner.ts'

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
}

export interface SaveClaim {
  /** Where this save's files go. */
  dir: string
  commit(pair: SavedPair): void
  /** Saving failed or was not attempted: the next lab boots (and saves) instead. */
  abandon(): void
}

export class SavedStates {
  private dir?: Promise<string>
  private readonly pairs = new Map<string, Promise<SavedPair | undefined>>()

  constructor(private readonly prefix: string) {}

  /** The save for `key`, once whoever is saving it has finished; undefined when none. */
  get(key: string): Promise<SavedPair | undefined> | undefined {
    return this.pairs.get(key)
  }

  /** Take the job of saving `key`; undefined when another lab of this run has it already. */
  async claim(key: string): Promise<SaveClaim | undefined> {
    if (this.pairs.has(key)) return undefined
    let settle!: (p: SavedPair | undefined) => void
    this.pairs.set(key, new Promise((resolve) => (settle = resolve)))
    let dir: string
    try {
      dir = await mkdtemp(join(await this.root(), 'pair-'))
    } catch (e) {
      this.pairs.delete(key)
      settle(undefined)
      throw e
    }
    return {
      dir,
      commit: (pair) => settle(pair),
      abandon: () => {
        this.pairs.delete(key)
        settle(undefined)
      },
    }
  }

  /** A save that would not restore: later labs boot again. */
  forget(key: string): void {
    this.pairs.delete(key)
  }

  /** The run's directory, made with its remover on first use. */
  root(): Promise<string> {
    this.dir ??= (async () => {
      const dir = await mkdtemp(join(tmpdir(), `${this.prefix}-saved-${ownerTag()}-`))
      removeWhenThisProcessEnds(dir)
      return dir
    })()
    return this.dir
  }
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
