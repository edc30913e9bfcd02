// The run records of every backend, merged: for each scenario and step, what each backend's
// latest run of it saw (passed, failed, skipped and why), with the hosts' kernels and the pcaps.
// Read from result folders (a run's output folder, its reports/, or a copy of reports/run/ or of
// one reports/by-backend/<cell>/); see report/run-record.ts for how runs write them.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { outputDirs } from '../output-dirs.ts'

export type StepStatus = 'passed' | 'failed' | 'skipped' | 'running'

/** One backend's latest run of one step. */
export interface StepRun {
  /** The matrix cell the run was: `netns`, `qemu`, `qemu kernel 6.1`, `docker bookworm`. */
  cell: string
  /** How the review names it: `netns`, `qemu 6.1`, `docker bookworm`. */
  on: string
  /** host01's kernel release and distro, when the run probed it. */
  kernel?: string
  distro?: string
  run?: string
  at?: string
  status: StepStatus
  /** A skip's reason or a failure's one-line verdict. */
  reason?: string
  /** A failure's whole message. */
  message?: string
  /** What a passed step showed, in a line. */
  summary?: string
  transcript?: string
  /** The step as the run gave it, to tell records of an older version of the scenario. */
  title?: string
  /** Absolute paths of the step's packet captures. */
  pcaps: string[]
  /** For a step with an erratum that passed: what the verbatim command did, and the correction. */
  erratum?: { outcome: string; corrected: string }
}

/** What a backend's hosts had, from its 'host' facts. */
export interface CellHosts {
  cell: string
  on: string
  kernel?: string
  /** Kernel features some host of the cell lacked or could not use. */
  missing: string[]
  missingTools: string[]
}

export interface ScenarioRecords {
  /** Step number → each backend's latest run of it. */
  steps: Map<number, StepRun[]>
  cells: CellHosts[]
}

export type MergedRecords = Map<string, ScenarioRecords>

interface Fact {
  kind: string
  run?: string
  at?: string
  cell?: string
  step?: number
  status?: StepStatus
  reason?: string
  message?: string
  summary?: string
  transcript?: string
  title?: string
  pcaps?: string[]
  outcome?: string
  corrected?: string
  host?: string
  kernelRelease?: string
  distro?: string
  missing?: string[]
  missingTools?: string[]
}

/** The output folder of the current settings (--out, LABPROOF_OUTPUT_DIR, the config's output). */
export function defaultResultDir(): string {
  return path.dirname(outputDirs().reports)
}

/** The folders of *.jsonl records a result folder holds: an output folder's reports/by-backend/*
 *  and reports/run, a reports/ folder's by-backend/* and run, else the folder and its subfolders. */
export function recordFolders(dir: string): string[] {
  const isDir = (d: string) => existsSync(d) && statSync(d).isDirectory()
  const hasRecords = (d: string) => isDir(d) && readdirSync(d).some((f) => f.endsWith('.jsonl'))
  const subfolders = (d: string) => (isDir(d) ? readdirSync(d).sort().map((f) => path.join(d, f)).filter(isDir) : [])
  const layout = (reports: string) => [...subfolders(path.join(reports, 'by-backend')), path.join(reports, 'run')]
  const candidates = isDir(path.join(dir, 'reports'))
    ? layout(path.join(dir, 'reports'))
    : isDir(path.join(dir, 'by-backend')) || isDir(path.join(dir, 'run')) ? layout(dir) : [dir, ...subfolders(dir)]
  return [...new Set(candidates.map((c) => path.resolve(c)))].filter(hasRecords)
}

/** Every scenario's records in these result folders, merged: per scenario and cell, the latest
 *  run found (the same run seen in reports/run/ and reports/by-backend/ counts once). */
export function readMergedRecords(resultDirs: string[]): MergedRecords {
  // scenario → cell → run → facts (with the folder they came from, for pcap paths)
  const byScenario = new Map<string, Map<string, Map<string, { facts: Fact[]; folder: string }>>>()
  for (const folder of resultDirs.flatMap(recordFolders)) {
    for (const file of readdirSync(folder).filter((f) => f.endsWith('.jsonl'))) {
      const scenario = file.replace(/\.jsonl$/, '')
      for (const fact of parseFacts(readFileSync(path.join(folder, file), 'utf8'))) {
        if (!fact.cell) continue
        const cells = byScenario.get(scenario) ?? new Map()
        byScenario.set(scenario, cells)
        const runs = cells.get(fact.cell) ?? new Map()
        cells.set(fact.cell, runs)
        const key = fact.run ?? ''
        const entry = runs.get(key) ?? { facts: [], folder }
        runs.set(key, entry)
        // Pcaps are kept only under by-backend/: prefer that folder's copy of a run.
        if (path.basename(path.dirname(folder)) === 'by-backend') entry.folder = folder
        entry.facts.push(fact)
      }
    }
  }
  const merged: MergedRecords = new Map()
  for (const [scenario, cells] of byScenario) {
    const records: ScenarioRecords = { steps: new Map(), cells: [] }
    for (const [cell, runs] of cells) {
      const latest = [...runs.values()].sort((a, b) => lastAt(b.facts).localeCompare(lastAt(a.facts)))[0]!
      addRun(records, cell, latest.facts, latest.folder)
    }
    merged.set(scenario, records)
  }
  return merged
}

function parseFacts(text: string): Fact[] {
  const facts: Fact[] = []
  for (const line of text.split('\n')) {
    if (!line) continue
    try {
      facts.push(JSON.parse(line) as Fact)
    } catch {
      // a torn line: not a fact
    }
  }
  return facts
}

function lastAt(facts: Fact[]): string {
  return facts.reduce((m, f) => (f.at && f.at > m ? f.at : m), '')
}

function addRun(records: ScenarioRecords, cell: string, facts: Fact[], folder: string): void {
  const hosts = facts.filter((f) => f.kind === 'host')
  const host01 = hosts.find((h) => h.host === 'host01') ?? hosts[0]
  const on = cellLabel(cell, host01?.kernelRelease, host01?.distro)
  records.cells.push({
    cell, on, kernel: host01?.kernelRelease,
    missing: [...new Set(hosts.flatMap((h) => h.missing ?? []))],
    missingTools: [...new Set(hosts.flatMap((h) => h.missingTools ?? []))],
  })
  // Seen twice (reports/run and by-backend) the facts repeat: one per (kind, step), the last.
  const byStep = new Map<number, StepRun>()
  for (const f of facts) {
    if (f.step === undefined) continue
    if (f.kind === 'step-started' && !byStep.has(f.step)) {
      byStep.set(f.step, { cell, on, kernel: host01?.kernelRelease, distro: host01?.distro, run: f.run, at: f.at, status: 'running', pcaps: [] })
    } else if (f.kind === 'step' && f.status) {
      byStep.set(f.step, {
        cell, on, kernel: host01?.kernelRelease, distro: host01?.distro, run: f.run, at: f.at, status: f.status,
        ...(f.reason ? { reason: f.reason } : {}), ...(f.message ? { message: f.message } : {}),
        ...(f.summary ? { summary: f.summary } : {}), ...(f.transcript ? { transcript: f.transcript } : {}),
        ...(f.title ? { title: f.title } : {}),
        pcaps: (f.pcaps ?? []).map((p) => path.resolve(folder, p)),
      })
    }
  }
  for (const f of facts) {
    const s = f.kind === 'errata' && f.step !== undefined ? byStep.get(f.step) : undefined
    if (s && f.outcome !== undefined) s.erratum = { outcome: f.outcome, corrected: f.corrected ?? '' }
  }
  for (const [step, run] of byStep) {
    const list = records.steps.get(step) ?? []
    list.push(run)
    records.steps.set(step, list)
  }
}

/** `qemu` with host01 on 6.1.0-27-amd64 → `qemu 6.1`; `qemu kernel 6.1` → `qemu 6.1`; `docker`
 *  with host01 on Debian 12 (bookworm) → `docker bookworm`. A VM backend boots its own kernel, so
 *  its kernel is named, and a container its distro; netns runs this machine's of both. */
export function cellLabel(cell: string, kernelRelease?: string, distro?: string): string {
  const named = cell.replace(/\bkernel /, '')
  if (named !== cell) return named
  const short = kernelRelease?.match(/^(\d+\.\d+)/)?.[1]
  if (/^(qemu|vagrant)$/.test(cell) && short) return `${cell} ${short}`
  const codename = distro?.match(/\(([a-z]+)\)/)?.[1]
  if (cell === 'docker' && codename) return `${cell} ${codename}`
  return cell
}
