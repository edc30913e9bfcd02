// The machine a benchmark ran on, so numbers are read against its size and load.
import { availableParallelism, loadavg, release, totalmem } from 'node:os'
import { readFile } from 'node:fs/promises'

export interface MachineFacts {
  date: string
  nproc: number
  memoryGiB: number
  kernel: string
  distro: string
  node: string
  /** 1, 5 and 15 minute load averages when the measurement started and when it ended. */
  loadAtStart: number[]
  loadAtEnd?: number[]
}

export async function machineFacts(): Promise<MachineFacts> {
  return {
    date: new Date().toISOString(),
    nproc: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    distro: await distroName(),
    node: process.version,
    loadAtStart: loadavg().map(round2),
  }
}

export function currentLoad(): number[] {
  return loadavg().map(round2)
}

async function distroName(): Promise<string> {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(await readFile('/etc/os-release', 'utf8'))?.[1] ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

function round2(v: number): number {
  return Math.round(v * 100) / 100
}
