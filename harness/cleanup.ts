// Remove what an interrupted run left behind. Only resources whose owning labproof process is
// gone are touched, so a clean never disturbs a run in progress on the same machine.
import { readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { NETNS_MARKER } from './backends/netns.ts'
import { PCAP_TEMP_PREFIX } from './capture/tcpdump.ts'
import { ownerAlive, parseOwnerTag } from './ownership/owner.ts'

/** netns nodes whose owner died. They normally die with it (pdeathsig); this is the backstop. */
async function staleNetnsNodes(): Promise<{ pid: number; label: string }[]> {
  const found: { pid: number; label: string }[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')
    const marker = cmdline.split('\0').find((a) => a.startsWith(`${NETNS_MARKER}:`))
    if (!marker) continue
    const [, labId, owner, hostname] = marker.split(':')
    const parsed = parseOwnerTag(owner)
    if (!parsed || ownerAlive(parsed)) continue
    found.push({ pid: Number(entry), label: `netns host ${hostname} of lab ${labId} (pid ${entry})` })
  }
  return found
}

/** Docker labs whose owner is gone; loaded only here, so netns users never load testcontainers. */
async function cleanDocker(): Promise<string[]> {
  const { reapDocker } = await import('./backends/docker-reaper.ts')
  try {
    const r = await reapDocker({ staleOnly: true, pruneFirewall: true })
    return [...r.containers.map((c) => `docker container ${c}`), ...r.networks.map((n) => `docker network ${n}`)]
  } catch (e) {
    if (/no docker engine answers/.test((e as Error).message)) return []
    throw e
  }
}

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

/** Every backend's leftovers from runs whose labproof process is gone. `docker: false` skips
 *  the engine (a run on another backend need not wait for it). */
export async function cleanLeftovers(opts: { docker?: boolean } = {}): Promise<string[]> {
  const { reapQemuLeftovers } = await import('./backends/qemu.ts')
  const { reapVagrantLeftovers } = await import('./backends/vagrant.ts')
  const removed: string[] = [...await reapQemuLeftovers(), ...await reapVagrantLeftovers(), ...await stalePcapDirs(), ...(opts.docker === false ? [] : await cleanDocker())]
  for (const node of await staleNetnsNodes()) {
    try {
      process.kill(node.pid, 'SIGKILL')
      removed.push(node.label)
    } catch {
      // exited meanwhile
    }
  }
  return removed
}
