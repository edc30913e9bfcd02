// The kernel parameters of an end state from one `sysctl KEY…` (one program, where `sysctl -n`
// per key was one each): it prints `KEY = VALUE` for each key it can read, in order, and says on
// stderr which it cannot (then exits non-zero).
import type { ExecResult } from '../host.ts'

/** Each key's value as `sysctl -n KEY` would give it: found, its value and exit 0; not found,
 *  what sysctl said about it (or everything it said) and its exit status. */
export function sysctlsFromListing(keys: string[], listing: ExecResult): Record<string, ExecResult> {
  const values = new Map<string, string>()
  for (const line of listing.stdout.split('\n')) {
    const eq = line.indexOf(' = ')
    if (eq > 0) values.set(line.slice(0, eq).trim(), line.slice(eq + 3))
  }
  return Object.fromEntries(keys.map((key) => {
    const value = values.get(key)
    if (value !== undefined) return [key, { ...listing, command: `sysctl ${key}`, exitCode: 0, stdout: `${value}\n`, stderr: '' }]
    const path = `/proc/sys/${key.replace(/\./g, '/')}`
    const said = listing.stderr.split('\n').filter((l) => l.includes(path) || l.includes(key)).join('\n')
    return [key, { ...listing, command: `sysctl ${key}`, exitCode: listing.exitCode || 1, stdout: '', stderr: said || listing.stderr }]
  }))
}
