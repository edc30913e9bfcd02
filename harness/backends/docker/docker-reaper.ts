// Everything the docker backend creates carries labels saying which lab it belongs to and which
// process owns it. Three ways it is removed: the lab's own destroy(); SIGINT/SIGTERM, handled in
// this one place (clean up the live labs, then re-raise the signal); and a stale sweep, run at
// the first provisioning of a process and by `labproof clean`, for labs whose owner died without
// cleaning up (SIGKILL, a crash). Ryuk is not used: it needs an image pulled from a registry.
import { hostname } from 'node:os'
import type Dockerode from 'dockerode'
import { currentOwner, ownerAlive } from '../../ownership/owner.ts'
import { PRUNE_SCRIPT, runOnEngineHost } from './docker-bridge-firewall.ts'
import { dockerClient, HOST_IMAGE_REPOSITORY } from './docker-image.ts'

export const LABEL_LAB = 'labproof.lab'
/** PID of the process that owns the lab. */
export const LABEL_RUN = 'labproof.run'
/** Start time of that process (clock ticks since boot), so a reused PID is not taken for the owner. */
export const LABEL_RUN_STARTED = 'labproof.run.started'
/** The machine the owner ran on: liveness can be judged only there. */
export const LABEL_MACHINE = 'labproof.machine'
/** On networks: the image that can run the engine-host helper when the lab is reaped. */
export const LABEL_IMAGE = 'labproof.image'

/** The labels that tie a resource to `labId` and to this process. */
export function ownerLabels(labId: string): Record<string, string> {
  const owner = currentOwner()
  return {
    [LABEL_LAB]: labId,
    [LABEL_RUN]: String(owner.pid),
    [LABEL_RUN_STARTED]: owner.started === undefined ? '' : String(owner.started),
    [LABEL_MACHINE]: hostname(),
  }
}

/** Whether the process that labelled a resource is gone (false when this machine cannot tell). */
export function ownerIsGone(labels: Record<string, string> | undefined): boolean {
  if (!labels || labels[LABEL_MACHINE] !== hostname()) return false
  const started = labels[LABEL_RUN_STARTED]
  return !ownerAlive({ pid: Number(labels[LABEL_RUN]), started: started ? Number(started) : undefined })
}

export interface ReapOptions {
  /** Only labs whose owner process is gone. */
  staleOnly?: boolean
  /** Only these labs. */
  labIds?: string[]
  docker?: Dockerode
  /** Also delete the engine host's DOCKER-USER rules of bridges that are gone (default: when a network was removed). */
  pruneFirewall?: boolean
}

export interface ReapResult {
  containers: string[]
  networks: string[]
}

/** Remove labproof containers, then their networks (a network with members cannot go). */
export async function reapDocker(opts: ReapOptions = {}): Promise<ReapResult> {
  const docker = opts.docker ?? await dockerClient()
  const filters = JSON.stringify({ label: [LABEL_LAB] })
  const chosen = (labels: Record<string, string> | undefined) =>
    (!opts.labIds || opts.labIds.includes(labels?.[LABEL_LAB] ?? '')) && (!opts.staleOnly || ownerIsGone(labels))

  const containers = (await docker.listContainers({ all: true, filters })).filter((c) => chosen(c.Labels))
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(ignoreGone)))
  const networks = (await docker.listNetworks({ filters })).filter((n) => chosen(n.Labels))
  // A stale network dockerd will not delete though no container holds it ("active endpoints"
  // left in its store by a killed run) is reported, not fatal: it must not stop every later run.
  await Promise.all(networks.map((n) => removeNetwork(docker, n.Id).catch((e: Error) => {
    if (!opts.staleOnly) throw e
    process.stderr.write(`labproof: docker would not remove the stale network ${n.Name}: ${e.message.trim()}\n`)
  })))
  if (opts.pruneFirewall ?? networks.length > 0) {
    const image = networks.map((n) => n.Labels?.[LABEL_IMAGE]).find(Boolean) ?? await anyHostImage(docker)
    if (image) await runOnEngineHost(docker, image, PRUNE_SCRIPT)
  }
  return { containers: containers.map((c) => c.Names[0]?.replace(/^\//, '') ?? c.Id), networks: networks.map((n) => n.Name) }
}

async function anyHostImage(docker: Dockerode): Promise<string | undefined> {
  const images = await docker.listImages({ filters: JSON.stringify({ reference: [`${HOST_IMAGE_REPOSITORY}:*`] }) })
  return images.flatMap((i) => i.RepoTags ?? [])[0]
}

/** Gone, or being removed by another request (a lab's destroy() racing a signal's reap). */
function ignoreGone(e: { statusCode?: number; message?: string }): void {
  if (e.statusCode === 404) return
  if (e.statusCode === 409 && /already in progress/.test(e.message ?? '')) return
  throw e
}

/** A network cannot go while a container being removed by another request still holds it. */
async function removeNetwork(docker: Dockerode, id: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await docker.getNetwork(id).remove()
    } catch (e) {
      const err = e as { statusCode?: number; message?: string }
      if (err.statusCode === 404) return
      if (attempt >= 20 || !/active endpoints|in use/i.test(err.message ?? '')) throw e
      await new Promise((r) => setTimeout(r, 250))
    }
  }
}

/** Labs whose owner is gone, for `labproof clean` and the sweep before a run; nothing when no
 *  engine answers (then nothing of labproof's can be running there either). */
export async function reapStaleDocker(): Promise<string[]> {
  try {
    const r = await reapDocker({ staleOnly: true, pruneFirewall: true })
    return [...r.containers.map((c) => `docker container ${c}`), ...r.networks.map((n) => `docker network ${n}`)]
  } catch (e) {
    if (/no docker engine answers/.test((e as Error).message)) return []
    throw e
  }
}

let staleSweep: Promise<ReapResult> | undefined

/** Once per process, before its first lab: remove what dead runs left behind. */
export function sweepStaleOnce(docker: Dockerode): Promise<ReapResult> {
  staleSweep ??= reapDocker({ staleOnly: true, docker })
  return staleSweep
}

// --- signals: the one place this backend handles them ---------------------------------------

const liveLabs = new Set<string>()
const SIGNALS = ['SIGINT', 'SIGTERM'] as const
const RUN_HANDLES_ITS_EXIT = Symbol.for('labproof.runHandlesItsExit')

/** Keep `labId` to be reaped if this process is interrupted before the lab is destroyed. */
export function trackLab(labId: string): void {
  if (liveLabs.size === 0) for (const s of SIGNALS) process.on(s, onSignal)
  liveLabs.add(labId)
}

export function untrackLab(labId: string): void {
  liveLabs.delete(labId)
  if (liveLabs.size === 0) for (const s of SIGNALS) process.off(s, onSignal)
}

/** The engine's resources of each lab that are being made: an interrupt lists a lab's resources
 *  once these have settled, or a container whose creation was under way at dockerd would be made
 *  after the listing and stay. */
const underWay = new Map<string, Set<Promise<unknown>>>()

/** Make a resource of lab `labId` (a container, a network) unless an interrupt is removing that
 *  lab, in which case nothing more is made. */
export async function makeForLab<T>(labId: string, make: () => Promise<T>): Promise<T> {
  if (!liveLabs.has(labId)) throw new Error(`docker lab ${labId} is being removed`)
  const made = make()
  const set = underWay.get(labId) ?? new Set()
  underWay.set(labId, set.add(made))
  try {
    return await made
  } finally {
    set.delete(made)
    if (!set.size) underWay.delete(labId)
  }
}

function onSignal(signal: NodeJS.Signals): void {
  const labIds = [...liveLabs]
  const making = labIds.flatMap((id) => [...(underWay.get(id) ?? [])])
  for (const s of SIGNALS) process.off(s, onSignal)
  liveLabs.clear()
  process.stderr.write(`labproof: ${signal}: removing docker lab(s) ${labIds.join(', ')}\n`)
  // Bounded: a hung engine must not keep an interrupted run alive.
  const giveUp = new Promise((resolve) => setTimeout(resolve, 10_000).unref())
  const reaped = Promise.allSettled(making).then(() => reapDocker({ labIds })).catch(() => undefined)
  void Promise.race([reaped, giveUp]).then(() => {
    // `labproof run` (run/interrupt.ts) has this signal already and exits once its labs are
    // gone: raised again, it would be the second signal, which exits at once.
    if ((globalThis as { [RUN_HANDLES_ITS_EXIT]?: boolean })[RUN_HANDLES_ITS_EXIT]) return
    // Re-raise: with our handler gone, the default action (or another handler) applies.
    process.kill(process.pid, signal)
  })
}
