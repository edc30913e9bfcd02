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
