// The iptables tables of an end state from one `iptables-save`, as `iptables -t TABLE -S` prints
// them: one program where four listings and their startup were (under TCG each program a guest
// starts costs 40-60 ms). iptables-save writes only the tables the kernel has; a table it leaves
// out has its built-in chains with ACCEPT policies and nothing else, which is what -S prints.
import type { ExecResult } from '../host.ts'

/** The iptables tables an end state covers, with their built-in chains in -S's order. */
const BUILTIN_CHAINS = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
} as const

export type IptablesTable = keyof typeof BUILTIN_CHAINS
const IPTABLES_TABLES = Object.keys(BUILTIN_CHAINS) as IptablesTable[]

/** Each table's listing as `iptables -t TABLE -S` gives it: `-P` for each built-in chain, `-N`
 *  for each chain of the table's own, then the rules (`-A`), in iptables-save's order, which is
 *  -S's. A failed iptables-save is every table's failure. */
export function tablesFromSave(save: ExecResult): Record<IptablesTable, ExecResult> {
  const listings = new Map<string, string[]>()
  if (save.exitCode === 0) {
    let heads: string[] = []
    let rules: string[] = []
    let table: string | undefined
    for (const line of save.stdout.split('\n')) {
      if (line.startsWith('*')) [table, heads, rules] = [line.slice(1).trim(), [], []]
      else if (line.startsWith(':') && table) {
        const [chain, policy] = line.slice(1).split(/\s+/)
        heads.push(policy && policy !== '-' ? `-P ${chain} ${policy}` : `-N ${chain}`)
      } else if (line.startsWith('-A ') && table) rules.push(line.trimEnd())
      else if (line.trim() === 'COMMIT' && table) {
        // -S lists the built-in chains' policies before the table's own chains.
        listings.set(table, [...heads.filter((h) => h.startsWith('-P ')), ...heads.filter((h) => h.startsWith('-N ')), ...rules])
        table = undefined
      }
    }
  }
  return Object.fromEntries(IPTABLES_TABLES.map((t) => {
    const lines = listings.get(t) ?? BUILTIN_CHAINS[t].map((chain) => `-P ${chain} ACCEPT`)
    return [t, save.exitCode === 0 ? { ...save, command: `iptables-save (table ${t})`, stdout: `${lines.join('\n')}\n` } : { ...save }]
  })) as Record<IptablesTable, ExecResult>
}
