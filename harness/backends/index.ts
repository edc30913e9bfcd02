// The backends, by name: what each declares (its command-line options as a schema, how many labs
// it runs at once by default, its reaper) and how to load it. Everything outside backends/ that
// needs to know about backends (cleanup, the number of labs at once, the CLI, the sweep after an
// interrupted run) reads this registry; nothing loads a backend's code until it is used, so a
// netns run never loads testcontainers, and the vitest config can read defaults cheaply.
//
// A new backend is its module(s) and one entry here. (Each entry belongs in its backend's own
// folder with the backend's files; the files stay where they are until the backends now being
// changed settle.)
import { z } from 'zod'
import type { Backend } from '../lab.ts'
import { dockerOptions } from './docker/docker-options.ts'

export interface BackendEntry {
  name: string
  /** One line for the help. */
  summary: string
  /** Scenarios run at once by default, each on its own lab. */
  defaultJobs: number
  /** The options it takes from the command line, validated before anything is provisioned. */
  options: z.ZodType<Record<string, unknown>>
  /** Its reaper talks to an engine that may be slow or absent: a run on another backend skips it. */
  reaperNeedsEngine?: boolean
  load(): Promise<Backend>
  /** Removes what runs whose labproof process is gone left behind; says what it removed. */
  reap(): Promise<string[]>
}

const noOptions = z.object({}).strict()

const BACKENDS: BackendEntry[] = [
  {
    name: 'netns',
    summary: 'processes in their own namespaces on this kernel (root, util-linux)',
    defaultJobs: 4,
    options: noOptions,
    load: async () => (await import('./netns/netns.ts')).netnsBackend,
    reap: async () => (await import('./netns/netns-reaper.ts')).reapNetnsLeftovers(),
  },
  {
    name: 'docker',
    summary: 'containers on --internal networks (a docker engine)',
    defaultJobs: 4,
    options: dockerOptions,
    reaperNeedsEngine: true,
    load: async () => (await import('./docker/docker.ts')).dockerBackend,
    reap: async () => (await import('./docker/docker-reaper.ts')).reapStaleDocker(),
  },
  {
    name: 'qemu',
    summary: 'two VMs booting a chosen Debian kernel (qemu-system-x86, debootstrap)',
    // VMs under TCG on two cores are not cheap.
    defaultJobs: 1,
    options: z.object({ kernel: z.string().optional() }).strict(),
    load: async () => (await import('./qemu/qemu.ts')).qemuBackend,
    reap: async () => (await import('./qemu/qemu.ts')).reapQemuLeftovers(),
  },
  {
    name: 'vagrant',
    summary: 'VMs from vagrant up on vagrant/Vagrantfile (vagrant and a provider)',
    defaultJobs: 1,
    options: z.object({ distro: z.string().optional() }).strict(),
    load: async () => (await import('./vagrant/vagrant.ts')).vagrantBackend,
    reap: async () => (await import('./vagrant/vagrant.ts')).reapVagrantLeftovers(),
  },
]

export const BACKEND_NAMES = BACKENDS.map((b) => b.name)

/** The entry of `name`; an unknown name is refused with the known ones. */
export function backendEntry(name: string): BackendEntry {
  const entry = BACKENDS.find((b) => b.name === name)
  if (!entry) throw new Error(`unknown backend "${name}"; choose one of: ${BACKEND_NAMES.join(', ')}`)
  return entry
}

/** Every backend, in the order a sweep goes through them: later ones first, since a VM
 *  backend's gateway is a netns node (its reaper must find the VMs before the node goes). */
export function backendsToSweep(): BackendEntry[] {
  return [...BACKENDS].reverse()
}

export async function backendByName(name: string): Promise<Backend> {
  return backendEntry(name).load()
}

/** `raw` checked against the backend's options: a mistake names the backend and the option. */
export function backendOptions(name: string, raw: Record<string, unknown>): Record<string, unknown> {
  const r = backendEntry(name).options.safeParse(raw)
  if (r.success) return r.data
  const issue = r.error.issues[0]!
  if (issue.code === 'unrecognized_keys') {
    const known = Object.keys((backendEntry(name).options as unknown as { shape?: object }).shape ?? {})
    throw new Error(`the ${name} backend has no option ${(issue as { keys: string[] }).keys.map((k) => `--${k}`).join(', ')} (${known.length ? `its options: ${known.map((k) => `--${k}`).join(', ')}` : 'it takes none'})`)
  }
  throw new Error(`${name} backend, --${issue.path.join('.')}: ${issue.message}`)
}
