// Suites that need an engine (a docker engine, qemu, vagrant, sshd...) skip, saying why, where it
// is missing, except when LABPROOF_REQUIRE names it (.ci/run sets docker,qemu,vagrant): then the
// suite FAILS, so a half-failed `ci/setup.sh --all` cannot leave `npm test` green.
import { describe, test } from 'vitest'

export const ENGINES = ['root', 'docker', 'qemu', 'vagrant', 'sshd', 'tcpdump'] as const
export type Engine = (typeof ENGINES)[number]

/** The engines LABPROOF_REQUIRE names (comma-separated); an unknown name is a mistake. */
export function requiredEngines(env: NodeJS.ProcessEnv = process.env): Set<Engine> {
  const names = (env.LABPROOF_REQUIRE ?? '').split(',').map((n) => n.trim()).filter(Boolean)
  for (const n of names) {
    if (!(ENGINES as readonly string[]).includes(n)) throw new Error(`LABPROOF_REQUIRE: unknown engine "${n}"; known: ${ENGINES.join(', ')}`)
  }
  return new Set(names as Engine[])
}

/** What to do with a suite that needs `engine`, missing for `missing` (undefined: it is there). */
export function engineVerdict(engine: Engine, missing: string | undefined, env: NodeJS.ProcessEnv = process.env): 'run' | 'skip' | 'fail' {
  if (missing === undefined) return 'run'
  return requiredEngines(env).has(engine) ? 'fail' : 'skip'
}

/** `describe(title, body)` when the engine is there; else skipped with the reason, or, when
 *  LABPROOF_REQUIRE names the engine, one failing test that says what is missing. */
export function describeWithEngine(engine: Engine, missing: string | undefined, title: string, body: () => void): void {
  const verdict = engineVerdict(engine, missing)
  if (verdict === 'run') describe(title, body)
  else if (verdict === 'skip') describe.skip(`${title} (skipped: ${missing})`, body)
  else describe(title, () => requiredButMissing(engine, missing!))
}

/** The same for one test. */
export function testWithEngine(engine: Engine, missing: string | undefined, title: string, fn: () => Promise<void> | void, timeoutMs?: number): void {
  const verdict = engineVerdict(engine, missing)
  if (verdict === 'run') test(title, fn, timeoutMs)
  else if (verdict === 'skip') test.skip(`${title} (skipped: ${missing})`, fn)
  else requiredButMissing(engine, missing!)
}

function requiredButMissing(engine: Engine, missing: string): void {
  test(`${engine} is required here (LABPROOF_REQUIRE) and missing`, () => {
    throw new Error(`LABPROOF_REQUIRE names ${engine}, but it is missing: ${missing}`)
  })
}

/** Why this process cannot use a docker engine, or undefined when one answers (root is not
 *  needed: a member of the docker group may use it). */
export async function dockerMissing(): Promise<string | undefined> {
  try {
    const { dockerClient } = await import('../../harness/backends/docker/docker-image.ts')
    await (await dockerClient()).ping()
    return undefined
  } catch (e) {
    return `no docker engine answers (${(e as Error).message.split('\n')[0]})`
  }
}

/** Why this process is not root, or undefined. */
export function rootMissing(): string | undefined {
  return process.getuid?.() === 0 ? undefined : 'needs root'
}
