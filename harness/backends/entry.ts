// What a backend declares, in its folder's index.ts (`export default defineBackend({...})`):
// its name, its command-line options as a zod schema, how many labs it runs at once, its pre-run
// checks, how it provisions a lab, its reaper, and whether the benchmark can measure it here.
// The entry is read by the CLI's help and option parsing, the config, the number of labs at once,
// cleanup and the bench, so it must stay light: it loads the backend's code (and its engine
// client) only inside preflight, provision, reap and benchReady.
import { z } from 'zod'
import type { Backend, Lab, ProvisionOptions } from '../lab.ts'
import type { Topology } from '../topology.ts'

/** An option's help: `arg` names its value (absent for a flag), `help` is one line. */
export interface OptionHelp {
  arg?: string
  help: string
}

/** A command-line option that takes a value: `--image NAME`. */
export function valueOption(arg: string, help: string) {
  return z.string().min(1).optional().meta({ arg, help } satisfies OptionHelp)
}

/** A command-line flag: `--privileged`. */
export function flagOption(help: string) {
  return z.boolean().optional().meta({ help } satisfies OptionHelp)
}

export const noOptions = z.strictObject({})

/** The options a run passes to preflight and provision: the backend's own (validated against its
 *  schema), with the matrix cell's distro and kernel. */
export type BackendOptions = ProvisionOptions & Record<string, unknown>

export interface BenchReadiness {
  available: boolean
  /** What it runs on, or why it is left out. */
  detail: string
}

export interface BackendEntry extends Backend {
  name: string
  /** One line for the help. */
  summary: string
  /** Scenarios run at once by default, each on its own lab. */
  defaultJobs: number
  /** Its command-line options (a strictObject of valueOption/flagOption fields), validated
   *  before anything is provisioned. */
  options: z.ZodObject
  /** Options that take a comma-separated list, one run of every scenario per value (a matrix:
   *  reports/matrix.md). Only `distro` and `kernel`, the cells a baseline knows. */
  matrix?: ('distro' | 'kernel')[]
  /** Environment variables that give an option its default (read once, by the CLI). */
  envDefaults?: Record<string, string>
  /** Its reaper talks to an engine that may be slow or absent: a run on another backend skips it. */
  reaperNeedsEngine?: boolean
  /** What it needs on this machine (root, a daemon, binaries, a known kernel), before any lab:
   *  throws one line naming the requirement and what to do. */
  preflight(opts?: BackendOptions): Promise<void>
  provision(topology: Topology, opts?: BackendOptions): Promise<Lab>
  /** Removes what runs whose labproof process is gone left behind; says what it removed. */
  reap(): Promise<string[]>
  /** Empties what it keeps across runs to start labs sooner (`labproof clean`); says what it
   *  removed. */
  emptyCaches?(): Promise<string[]>
  /** For `npm run bench`: measured unless asked for by name when false (slow backends). */
  benchByDefault?: boolean
  /** Whether the benchmark can measure it here without building anything; absent: it cannot. */
  benchReady?(): Promise<BenchReadiness>
}

export function defineBackend(entry: BackendEntry): BackendEntry {
  for (const [key, field] of Object.entries(entry.options.shape)) {
    if (!optionHelp(field)) throw new Error(`the ${entry.name} backend's option "${key}" has no help: declare it with valueOption or flagOption`)
  }
  return entry
}

/** The help an option was declared with. */
export function optionHelp(field: unknown): OptionHelp | undefined {
  const meta = z.globalRegistry.get(field as z.ZodType) as Partial<OptionHelp> | undefined
  return meta?.help ? { help: meta.help, ...(meta.arg ? { arg: meta.arg } : {}) } : undefined
}
