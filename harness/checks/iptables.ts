// iptables: a rule present (or absent) in a table and chain, as `iptables -S` prints it.
import { z } from 'zod'
import { shellQuote } from '../host.ts'
import { target } from '../scenario/fields.ts'
import type { StepContext } from '../scenario/step-context.ts'
import { CheckFailure } from './check-failure.ts'
import { defineCheck, SHELL_ARG } from './kind.ts'

const schema = z.strictObject({
  on: target,
  table: z.enum(['filter', 'nat', 'mangle', 'raw', 'security']).default('filter'),
  chain: z.string().regex(/^[A-Za-z0-9_.-]{1,28}$/, 'a chain name: at most 28 letters, digits, "_", "." or "-"'),
  /** The rule as `iptables -S` prints it after `-A CHAIN`, e.g. `-s 192.168.28.0/24 -j MASQUERADE`. */
  rule: z.string(),
  present: z.boolean().default(true),
})
export type IptablesCheck = z.output<typeof schema>

const squash = (s: string) => s.trim().replace(/\s+/g, ' ')

export function rulesOf(listing: string, chain: string): string[] {
  const prefix = `-A ${chain} `
  return listing.split('\n').filter((l) => l.startsWith(prefix)).map((l) => squash(l.slice(prefix.length)))
}

const listCommand = (c: IptablesCheck) => `iptables -t ${c.table} -S ${shellQuote(c.chain)}`

async function runIptablesCheck(c: IptablesCheck, ctx: StepContext): Promise<string> {
  const listing = await ctx.query(c.on, listCommand(c))
  const rules = rulesOf(listing, c.chain)
  const wanted = squash(c.rule)
  const found = rules.includes(wanted)
  const where = `${c.table} ${c.chain} on ${c.on}`
  const evidence = rules.length ? rules.map((r) => `-A ${c.chain} ${r}`).join('\n') : `(no rules in ${c.chain})`
  if (c.present && !found) throw new CheckFailure(`rule "${wanted}" in ${where}`, 'not there', evidence)
  if (!c.present && found) throw new CheckFailure(`no rule "${wanted}" in ${where}`, 'it is there', evidence)
  return `${c.present ? '' : 'no '}rule "${wanted}" in ${where}`
}

export default defineCheck({
  name: 'iptables',
  description: 'a rule is in an iptables table and chain (or is not), as `iptables -S` prints it',
  schema,
  targets: ['on'],
  readsConfigOnly: true,
  requires: { tools: ['iptables'] },
  title: (c) => `iptables ${c.table} ${c.chain} ${c.present === false ? 'lacks' : 'has'} "${c.rule}" on ${c.on}`,
  reads: (c) => [{ on: c.on, command: listCommand(c) }],
  run: runIptablesCheck,
  grading: {
    probes: [new RegExp(String.raw`^iptables -t (?:filter|nat|mangle|raw|security) -S ${SHELL_ARG}$`)],
    tools: ['iptables'],
    subject: (c) => [c.on, c.table, c.chain, c.rule],
  },
})
