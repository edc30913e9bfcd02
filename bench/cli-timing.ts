// Scenarios through the real command line, `npx labproof run [ID...]`, vitest startup and
// reporters included: what a user waits for. Results go to a temporary directory.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { runProcess } from '../harness/local-process.ts'
import { cpuMs } from './cpu.ts'

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url))
const CLI_TIMEOUT_MS = 1_800_000

export interface CliRun {
  ms: number
  /** CPU time of the whole process tree. */
  cpuMs: number
  exitCode: number
  /** vitest's summary line: "308 passed | 40 skipped (348)". */
  tests: string
  /** The end of the output when the run failed. */
  failure?: string
}

export async function runCli(ids: string[], backend: string, env: Record<string, string> = {}): Promise<CliRun> {
  const out = await mkdtemp(path.join(tmpdir(), 'labproof-bench-'))
  try {
    const started = performance.now()
    const cpu0 = cpuMs()
    const r = await runProcess('npx', ['labproof', 'run', ...ids, '--backend', backend], {
      timeoutMs: CLI_TIMEOUT_MS,
      env: { LABPROOF_OUTPUT_DIR: out, NO_COLOR: '1', FORCE_COLOR: '0', ...env },
    })
    const ms = performance.now() - started
    const cpu = cpuMs() - cpu0
    const text = r.stdout + r.stderr
    const tests = /^\s*Tests\s+(.+)$/m.exec(text)?.[1]?.trim() ?? '?'
    return { ms, cpuMs: cpu, exitCode: r.exitCode, tests, ...(r.exitCode !== 0 ? { failure: text.slice(-2000) } : {}) }
  } finally {
    await rm(out, { recursive: true, force: true })
  }
}

export { PACKAGE_DIR }
