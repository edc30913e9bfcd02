// Remove what an interrupted run left behind. Only resources whose owning labproof process is
// gone are touched, so a clean never disturbs a run in progress on the same machine. Each
// backend's reaper comes from the backend registry.
import { readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { backendsToSweep } from './backends/index.ts'
import { PCAP_TEMP_PREFIX } from './capture/tcpdump.ts'
import { ownerAlive } from './ownership/owner.ts'

/** Local copies of captures (`labproof-pcap-<owner pid>-…`) of a process that died mid-copy. */
async function stalePcapDirs(): Promise<string[]> {
  const removed: string[] = []
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    const m = new RegExp(`^${PCAP_TEMP_PREFIX}(\\d+)-`).exec(name)
    if (!m || ownerAlive(Number(m[1]))) continue
    await rm(path.join(tmpdir(), name), { recursive: true, force: true })
    removed.push(`capture copy ${path.join(tmpdir(), name)}`)
  }
  return removed
}

export interface CleanOptions {
  /** Backends whose reaper needs an engine (docker) are swept only when named here; default:
   *  all of them (`labproof clean`). A run names its own backend: it need not wait for others'. */
  engineBackends?: string[]
  /** Only these backends' leftovers (default: every backend's). */
  only?: string[]
  /** Also empty what backends keep across runs (saved VM pairs): `labproof clean`, not a run. */
  caches?: boolean
}

/** Every backend's leftovers from runs whose labproof process is gone. */
export async function cleanLeftovers(opts: CleanOptions = {}): Promise<string[]> {
  // The backends' reapers at once: each waits on its own tools (virsh, qemu's files, docker).
  const swept = backendsToSweep()
    .filter((backend) => !(backend.reaperNeedsEngine && opts.engineBackends && !opts.engineBackends.includes(backend.name)))
    .filter((backend) => opts.only?.includes(backend.name) ?? true)
    .map(async (backend) => [...await backend.reap(), ...(opts.caches && backend.emptyCaches ? await backend.emptyCaches() : [])])
  return [...(await Promise.all(swept)).flat(), ...(await stalePcapDirs())]
}
