// Mistakes in how labproof was called: one line `labproof: …` and exit code 2.
import { parseArgs, type ParseArgsConfig } from 'node:util'

export class UsageError extends Error {}

/** node:util parseArgs' complaints, said the labproof way (they are usage errors). */
export function argumentError(e: unknown, command: string | undefined): UsageError | undefined {
  const code = (e as { code?: string }).code ?? ''
  if (!code.startsWith('ERR_PARSE_ARGS_')) return undefined
  const quoted = /'([^']+)'/.exec((e as Error).message)?.[1] ?? ''
  const problem = code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? `unknown option ${quoted}`
    : code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ? `option ${quoted.replace(/ <value>$/, '')} needs a value`
    : code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' ? `unexpected argument "${quoted}"`
    : (e as Error).message
  return new UsageError(`${command}: ${problem} (labproof ${command} --help shows the options)`)
}

/** `labproof CMD --help` or `-h`, before any other option is looked at. */
export function wantsHelp(args: string[]): boolean {
  const end = args.indexOf('--')
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h')
}

/** parseArgs with the given options, strict, with positionals only where allowed. */
export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, allowPositionals = false) {
  return parseArgs({ args, options, allowPositionals, strict: true })
}

/** A positive whole number option, or a usage error naming it. */
export function positiveInteger(value: string, option: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n <= 0) throw new UsageError(`--${option} wants a positive whole number, not "${value}"`)
  return n
}
