// --max-steps N and --max-scenario-bytes N (or --max-steps=N) on every command that loads
// scenarios besides run, which declares them itself: taken out of the arguments here, before the
// command parses the rest, and applied with the environment and the config (harness/cli.ts).
import type { LimitSources } from '../scenario/limits.ts'
import { positiveInteger, UsageError } from './usage.ts'

/** The commands other than run that load scenarios. */
export const LIMITED_COMMANDS = ['list', 'errata', 'review', 'grade', 'endstate', 'check-source']

type Limits = NonNullable<LimitSources['cli']>
const OPTIONS: Record<string, keyof Limits> = { 'max-steps': 'steps', 'max-scenario-bytes': 'bytes' }

export function takeLimitOptions(args: string[]): { limits: Limits; rest: string[] } {
  const limits: Limits = {}
  const rest: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--') {
      rest.push(...args.slice(i))
      break
    }
    const m = /^--(max-steps|max-scenario-bytes)(?:=(.*))?$/.exec(arg)
    if (!m) {
      rest.push(arg)
      continue
    }
    const value = m[2] ?? args[++i]
    if (value === undefined) throw new UsageError(`--${m[1]} wants a value`)
    limits[OPTIONS[m[1]!]!] = positiveInteger(value, m[1]!)
  }
  return { limits, rest }
}
