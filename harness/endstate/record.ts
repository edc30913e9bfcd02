// The reference end state of a scenario: what the lab's hosts look like once every step ran,
// recorded by `labproof run` (reports/endstate/) and, with `labproof endstate record`, stored
// beside the scenario (scenarios/<file>.endstate.json), where it is reviewed like code. What
// belongs to the lab's machinery rather than to the document is left out: lo, the underlay
// interface and its routes, routes the kernel derives from addresses, default policies.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Host } from '../host.ts'
import type { Lab } from '../lab.ts'
import { outputDirs } from '../output-dirs.ts'
import type { Subscriber } from '../engine/events.ts'
import type { LoadedScenario } from '../scenario/loader.ts'
import { planSteps, type PlannedStep } from '../scenario/plan.ts'
import type { Topology } from '../topology.ts'
import { machineState, type MachineState } from './model.ts'
import { probeEndState } from './probe.ts'

export const END_STATE_FORMAT = 1

export interface EndStateFile {
  format: number
  scenario: string
  /** How it was recorded: the backend and the kernel, for the reviewer. */
  recordedOn: { backend: string; kernel?: string }
  hosts: Record<string, MachineState>
}

/** `scenarios/001-veth-bridge-nat.yaml` → `scenarios/001-veth-bridge-nat.endstate.json`. */
export function endStateFileOf(scenarioFile: string): string {
  return scenarioFile.replace(/\.ya?ml$/, '') + '.endstate.json'
}

/** Kernel parameters a scenario touches: written with sysctl or into /proc/sys, or checked. */
export function sysctlKeysOf(s: LoadedScenario): string[] {
  const keys = new Set(['net.ipv4.ip_forward'])
  for (const step of s.steps) {
    const texts = 'run' in step ? [step.run, step.erratum?.corrected ?? ''] : 'check' in step && step.check.sysctl ? [`sysctl ${step.check.sysctl.key}=`] : []
    for (const t of texts) {
      for (const m of t.matchAll(/\bsysctl\b[^;&|\n]*?\b((?:net|kernel|vm|fs)\.[\w.-]+)\s*=/g)) keys.add(m[1]!)
      for (const m of t.matchAll(/>\s*\/proc\/sys\/([\w/-]+)/g)) keys.add(m[1]!.replace(/\//g, '.'))
    }
  }
  return [...keys].sort()
}

/** The lab's part of a host's state. */
export function referenceState(state: MachineState, topology: Topology, s: LoadedScenario, hostName?: string): MachineState {
  const underlay = topology.underlay.interface
  const commands = s.steps.flatMap((step) => ('run' in step ? [step.run, step.erratum?.corrected ?? ''] : [])).join('\n')
  const labSets = (word: string) => new RegExp(`\\b${word}\\b`).test(commands)
  const isMachinery = (ns: string, name: string) => name === 'lo' || (ns === '' && name === underlay)
  const sortBy = <T>(list: T[], key: (x: T) => string) => [...list].sort((a, b) => key(a).localeCompare(key(b)))
  return {
    namespaces: [...state.namespaces].sort(),
    links: sortBy(state.links.filter((l) => !isMachinery(l.ns, l.name)), (l) => `${l.ns} ${l.name}`).map((l) => ({ ...l, addresses: [...l.addresses].sort() })),
    routes: sortBy(state.routes.filter((r) => r.proto !== 'kernel' && !(r.ns === '' && r.dev === underlay)), (r) => `${r.ns} ${r.dst}`)
      .map(({ ns, dst, via, dev, metric, proto }) => ({
        ns, dst, ...(via ? { via } : {}), ...(dev ? { dev } : {}),
        ...(metric !== undefined && labSets('metric') ? { metric } : {}), ...(proto && labSets('proto') ? { proto } : {}),
      })),
    ports: sortBy(state.ports, (p) => `${p.ns} ${p.bridge} ${p.port}`),
    // A sysctl counts on the hosts whose commands touch it (host02 of a lab that forwards on
    // host01 keeps its default, which is no claim of the lab).
    sysctls: Object.fromEntries(Object.entries(state.sysctls).filter(([key, v]) => v !== null && (!hostName || touches(s, hostName, key))).sort()),
    iptables: state.iptables.filter((c) => c.rules.length || (c.policy && c.policy !== 'ACCEPT')),
    unreadable: state.unreadable,
  }
}

function touches(s: LoadedScenario, hostName: string, key: string): boolean {
  const path = key.replace(/\./g, '/')
  return s.steps.some((step) => {
    const text = 'run' in step ? `${step.run}\n${step.erratum?.corrected ?? ''}` : 'check' in step ? JSON.stringify(step.check) : ''
    const on = 'run' in step ? step.on : 'check' in step ? JSON.stringify(step.check) : ''
    return on.includes(hostName) && (text.includes(key) || text.includes(path))
  })
}

/** Every host of the lab a student may play, read and reduced to the lab's part. */
export async function readReference(s: LoadedScenario, lab: Lab, hostNames: string[]): Promise<EndStateFile> {
  // The hosts side by side, each read in two batches (probeEndState); the kernel is the one
  // the capability probe read (no program of its own: under TCG each costs 40-60 ms).
  const read = await Promise.all(hostNames.map(async (name) => {
    const host = lab.host(name)
    const [raw, kernel] = await Promise.all([probeEndState(host, sysctlKeysOf(s), 20_000), kernelOf(host)])
    return { name, state: referenceState(machineState(raw), lab.topology, s, name), kernel }
  }))
  const hosts: Record<string, MachineState> = Object.fromEntries(read.map((h) => [h.name, h.state]))
  const kernel = read.find((h) => h.kernel)?.kernel
  return { format: END_STATE_FORMAT, scenario: s.id, recordedOn: { backend: lab.backend, ...(kernel ? { kernel } : {}) }, hosts }
}

async function kernelOf(host: Host): Promise<string | undefined> {
  const release = await host.capabilities().then((c) => c.kernelRelease, () => 'unknown')
  if (release !== 'unknown') return release
  return (await host.exec('uname -r', { timeoutMs: 10_000 })).stdout.trim() || undefined
}

export function formatEndStateFile(f: EndStateFile): string {
  return `${JSON.stringify(f, null, 2)}\n`
}

/** The engine's hook (a subscriber, see harness/engine/events.ts): once the scenario's last step
 *  has its result, and before teardown, the lab's end state is read and handed to `write`
 *  (default: reports/endstate/<file>.endstate.json). Nothing is recorded when a step failed (the
 *  lab stopped midway). Never fails the run: a problem is one line on stderr. */
export function endStateSubscriber(write: (file: EndStateFile, s: LoadedScenario) => Promise<void> = writeRunEndState): Subscriber {
  let lab: Lab | undefined
  let failed = false
  /** The scenario's last step (planned once, at lab-up: not at every step's result). */
  let last: number | undefined
  const atEnd = async (e: { scenario: LoadedScenario; step: PlannedStep }) => {
    if (failed || !lab || e.step.number !== last) return
    try {
      await write(await readReference(e.scenario, lab, lab.topology.hosts.map((h) => h.name)), e.scenario)
    } catch (error) {
      process.stderr.write(`labproof: the end state of ${e.scenario.id} could not be recorded: ${(error as Error).message.split('\n')[0]}\n`)
    }
  }
  return {
    'lab-up': (e) => {
      lab = e.lab
      failed = false
      last = planSteps(e.scenario).at(-1)?.number
    },
    'step-result': async (e) => {
      if (e.result.status === 'failed') failed = true
      await atEnd(e)
    },
    'step-skipped': (e) => {
      if (e.reason.startsWith('blocked by') || e.reason === 'the lab was not provisioned') failed = true
      return atEnd(e)
    },
    'lab-down': () => { lab = undefined },
  }
}

async function writeRunEndState(file: EndStateFile, s: LoadedScenario): Promise<void> {
  const dir = path.join(outputDirs().reports, 'endstate')
  await mkdir(dir, { recursive: true })
  const written = path.join(dir, path.basename(endStateFileOf(s.file)))
  await writeFile(written, formatEndStateFile(file))
  // The stored reference is what grading uses: say when this run's lab ended elsewhere.
  const stored = await loadEndState(s).catch(() => undefined)
  if (stored && stored.recordedOn.backend === file.recordedOn.backend && JSON.stringify(stored.hosts) !== JSON.stringify(file.hosts)) {
    process.stderr.write(`labproof: ${s.id} ended in a state other than ${endStateFileOf(s.file)} records (this run's: ${written}); ` +
      `if the scenario changed, regenerate it with labproof endstate record ${s.id} and review the difference\n`)
  }
}

export class EndStateFileError extends Error {}

/** The stored reference beside a scenario, or undefined when there is none. */
export async function loadEndState(s: LoadedScenario): Promise<EndStateFile | undefined> {
  const file = endStateFileOf(s.file)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
  let data: EndStateFile
  try {
    data = JSON.parse(text) as EndStateFile
  } catch (e) {
    throw new EndStateFileError(`${file}: not valid JSON (${(e as Error).message}); regenerate it with labproof endstate record ${s.id}`)
  }
  if (data.format !== END_STATE_FORMAT || data.scenario !== s.id || typeof data.hosts !== 'object') {
    throw new EndStateFileError(`${file}: not an end state of ${s.id} in format ${END_STATE_FORMAT}; regenerate it with labproof endstate record ${s.id}`)
  }
  return data
}
