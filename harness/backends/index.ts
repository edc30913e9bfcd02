// The backend registry: one line per backend, each a folder whose index.ts declares it
// (entry.ts is the contract). Everything outside backends/ that needs to know about backends
// reads this: the CLI's help and options, the config, the number of labs at once, cleanup and the
// sweep after an interrupted run, the engine, the bench. No entry loads its backend's code until
// it is used, so a netns run never loads testcontainers.
//
// A new backend is its folder and one line here.
import type { BackendEntry, BackendOptions } from './entry.ts'
import netns from './netns/index.ts'
import docker from './docker/index.ts'
import qemu from './qemu/index.ts'
import vagrant from './vagrant/index.ts'

export type { BackendEntry } from './entry.ts'

const BACKENDS: BackendEntry[] = [
  netns,
  docker,
  qemu,
  vagrant,
]

/** Adds a backend at run time (a plugin, or a test's double); the returned call removes it. */
export function registerBackend(entry: BackendEntry): () => void {
  if (BACKENDS.some((b) => b.name === entry.name)) throw new Error(`a backend named "${entry.name}" is registered already`)
  BACKENDS.push(entry)
  return () => {
    const i = BACKENDS.indexOf(entry)
    if (i >= 0) BACKENDS.splice(i, 1)
  }
}

export function backendNames(): string[] {
  return BACKENDS.map((b) => b.name)
}

/** The entry of `name`; an unknown name is refused with the known ones. */
export function backendEntry(name: string): BackendEntry {
  const entry = BACKENDS.find((b) => b.name === name)
  if (!entry) throw new Error(`unknown backend "${name}"; choose one of: ${backendNames().join(', ')}`)
  return entry
}

export function allBackends(): readonly BackendEntry[] {
  return BACKENDS
}

/** Every backend, in the order a sweep goes through them: later ones first, since a VM
 *  backend's gateway is a netns node (its reaper must find the VMs before the node goes). */
export function backendsToSweep(): BackendEntry[] {
  return [...BACKENDS].reverse()
}

/** The backend that makes labs: its entry (preflight, provision). */
export async function backendByName(name: string): Promise<BackendEntry> {
  return backendEntry(name)
}

/** `raw` checked against the backend's options: a mistake names the backend and the option. */
export function backendOptions(name: string, raw: Record<string, unknown>): BackendOptions {
  const entry = backendEntry(name)
  const r = entry.options.safeParse(raw)
  if (r.success) return r.data as BackendOptions
  const issue = r.error.issues[0]!
  if (issue.code === 'unrecognized_keys') {
    const known = Object.keys(entry.options.shape)
    const key = issue.keys[0]!
    const others = BACKENDS.filter((b) => key in b.options.shape).map((b) => b.name)
    throw new Error(`the ${name} backend has no option --${key} (${known.length ? `its options: ${known.map((k) => `--${k}`).join(', ')}` : 'it takes none'})${others.length ? `; --${key} is an option of ${others.join(', ')} (add --backend ${others[0]})` : ''}`)
  }
  throw new Error(`${name} backend, --${issue.path.join('.')}: ${issue.message}`)
}

/** The defaults the environment gives a backend's options (its `envDefaults`): what the CLI
 *  starts from before the command line's own. A flag's variable is on when it is 1. */
export function backendOptionsFromEnv(name: string, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const entry = backendEntry(name)
  const found: Record<string, unknown> = {}
  for (const [option, variable] of Object.entries(entry.envDefaults ?? {})) {
    const value = env[variable]
    if (value === undefined || value === '') continue
    found[option] = isFlag(entry, option) ? value === '1' : value
  }
  return found
}

function isFlag(entry: BackendEntry, option: string): boolean {
  const field = entry.options.shape[option] as { unwrap?: () => unknown } | undefined
  return (field?.unwrap?.() as { def?: { type?: string } } | undefined)?.def?.type === 'boolean'
}

/** Every option any backend takes, for the command line's parser: a flag or a value. */
export function backendCliOptions(): Record<string, { type: 'string' | 'boolean' }> {
  const all: Record<string, { type: 'string' | 'boolean' }> = {}
  for (const entry of BACKENDS) {
    for (const option of Object.keys(entry.options.shape)) {
      const type = isFlag(entry, option) ? 'boolean' : 'string'
      if (all[option] && all[option]!.type !== type) throw new Error(`backends disagree on --${option}: a flag for one, a value for another`)
      all[option] = { type }
    }
  }
  return all
}
