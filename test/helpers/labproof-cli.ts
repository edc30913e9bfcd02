// Running the labproof command line from a test, as a user would, and reading what it wrote.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseJunit, type JunitCase } from '../../harness/report/junit.ts'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const CLI = path.join(ROOT, 'bin', 'labproof.js')

export interface CliRun {
  child: ChildProcess
  output: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** `labproof ARGS` from the repository root, in its own process group (as `setsid` would). */
export function startCli(args: string[], env: Record<string, string> = {}): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d) => (out += String(d)))
  child.stderr!.on('data', (d) => (out += String(d)))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  return { child, output: () => out, exited }
}

export async function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const run = startCli(args, env)
  const { code } = await run.exited
  return { code, output: run.output() }
}

/** Every testcase of a JUnit file, keyed `classname > name`. */
export function junitCases(file: string): Map<string, JunitCase> {
  const cases = parseJunit(readFileSync(file, 'utf8'), file).flatMap((s) => s.cases)
  return new Map(cases.map((c) => [`${c.classname} > ${c.name}`, c]))
}
