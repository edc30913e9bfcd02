// The values a scenario's fields hold (addresses, interface names, where a command runs), as zod
// schemas shared by the scenario schema (schema.ts) and the check kinds (harness/checks/), which
// schema.ts reads through their registry: so this file imports neither.
import { z } from 'zod'
import { cidrProblem, interfaceNameProblem, ipv4Problem, namespaceNameProblem } from './values.ts'

/** A string that `problem` (values.ts) finds nothing wrong with. */
export const valid = (problem: (v: string) => string | undefined) => z.string().superRefine((v, ctx) => {
  const why = problem(v)
  if (why) ctx.addIssue({ code: 'custom', message: why })
})
export const ipv4 = valid(ipv4Problem)
export const cidr = valid((v) => cidrProblem(v, 'interface'))
export const interfaceName = valid(interfaceNameProblem)

/** `host01` or `host01/ns1` (a network namespace inside host01). */
export const target = z.string().regex(/^[a-z][\w-]*(\/.*)?$/, 'a host like host01, or host/namespace like host01/ns1').superRefine((v, ctx) => {
  const slash = v.indexOf('/')
  const why = slash >= 0 ? namespaceNameProblem(v.slice(slash + 1)) : undefined
  if (why) ctx.addIssue({ code: 'custom', message: why })
})

/** A claim's name in its scenario: kebab-case (`host-unreachable-before-gateway`). */
export const claimId = z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'a claim id in kebab-case: lowercase letters and digits in words joined by single dashes')

/** A line of the scenario's document, 1-based; checked against the document at review time. */
export const docLine = z.number().int().min(1, 'a document line: 1 or more').max(10000, 'a document line: at most 10000')
