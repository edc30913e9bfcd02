// iptables: a rule present (or absent) in a table and chain, as `iptables -S` prints it.
import type { IptablesCheck } from '../scenario/schema.ts'
import type { StepContext } from '../scenario/step-context.ts'
import { CheckFailure } from './check-failure.ts'
import { shellQuote } from '../host.ts'

const squash = (s: string) => s.trim().replace(/\s+/g, ' ')

export function rulesOf(listing: string, chain: string): string[] {
  const prefix = `-A ${chain} `
  return listing.split('\n').filter((l) => l.startsWith(prefix)).map((l) => squash(l.slice(prefix.length)))
}

export async function runIptablesCheck(c: IptablesCheck, ctx: StepContext): Promise<string> {
  const listing = await ctx.query(c.on, `iptables -t ${c.table} -S ${shellQuote(c.chain)}`)
  const rules = rulesOf(listing, c.chain)
  const wanted = squash(c.rule)
  const found = rules.includes(wanted)
  const where = `${c.table} ${c.chain} on ${c.on}`
  const evidence = rules.length ? rules.map((r) => `-A ${c.chain} ${r}`).join('\n') : `(no rules in ${c.chain})`
  if (c.present && !found) throw new CheckFailure(`rule "${wanted}" in ${where}`, 'not there', evidence)
  if (!c.present && found) throw new CheckFailure(`no rule "${wanted}" in ${where}`, 'it is there', evidence)
  return `${c.present ? '' : 'no '}rule "${wanted}" in ${where}`
}
