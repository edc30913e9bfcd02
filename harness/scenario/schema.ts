// The scenario format: one YAML file per lab document. Validated here; `npm run schema` writes
// scenarios/schema.json from this file for editors.
import { z } from 'zod'
import { KERNEL_FEATURES, TOOLS } from '../host.ts'
import { check } from '../checks/index.ts'
import { capturePointProblem, controlCharacterProblem, hostnameProblem } from './values.ts'
import { cidr, claimId, docLine, interfaceName, ipv4, target, valid } from './fields.ts'
import { topologyProblems } from '../topology.ts'

/** A command goes to sh as it is: NUL (which sh would drop) and other control characters are
 *  refused, with where they are. */
function refuseControlCharacters(v: string, ctx: z.core.$RefinementCtx<string>): void {
  const why = controlCharacterProblem(v)
  if (why) ctx.addIssue({ code: 'custom', message: why })
}

/** A scenario's name for a host: it also names the host's port on the gateway, `port-NAME`,
 *  which must fit in an interface name. */
const hostKey = z.string().regex(/^[a-z][a-z0-9_-]{0,9}$/, 'a host name like host01: a lowercase letter, then at most 9 lowercase letters, digits, "_" or "-"')

export const requirements = z.strictObject({
  kernel: z.array(z.enum(KERNEL_FEATURES)).default([]),
  tools: z.array(z.enum(TOOLS)).default([]),
})

const stringOrList = z.union([z.string(), z.array(z.string())])

/** What a command of the document is expected to do. */
const expectationFields = {
  /** Default 0; "nonzero" for any failure; "any" when the document's claim is only the output. */
  exitCode: z.union([z.number().int(), z.literal('nonzero'), z.literal('any')]).optional(),
  /** Substrings that must appear in stdout + stderr. */
  contains: stringOrList.optional(),
  /** Substrings that must not appear in stdout + stderr. */
  notContains: stringOrList.optional(),
  /** What the document shows the command printing; its lines must appear in order, ignoring
   *  indexes, MAC addresses, counters, times and column padding. */
  output: z.string().optional(),
  /** A regular expression stdout + stderr must match. */
  matches: z.string().optional(),
  /** For a ping: did any reply come back. */
  reachable: z.boolean().optional(),
  /** For a ping: the TTL every reply must carry. */
  ttl: z.number().int().min(0).max(255).optional(),
  /** true: the command prints nothing at all, on stdout or stderr. */
  empty: z.boolean().optional(),
}

/** One way a command behaves where hosts really differ (a tool's version), stated as precisely
 *  as any expectation, with the hosts it describes. */
export const expectationVariant = z.strictObject({
  /** Which hosts behave this way and why, e.g. `iproute2 5.9 (bullseye): …`; the report names it. */
  when: z.string().min(1),
  ...expectationFields,
})

export const expectation = z
  .strictObject({
    ...expectationFields,
    /** The command must behave as one of these, each taken together with the fields beside
     *  `variants` (which hold for all). A field is given beside `variants` or in them, not both. */
    variants: z.array(expectationVariant).min(2).optional(),
  })
  .superRefine((e, ctx) => {
    for (const [i, v] of (e.variants ?? []).entries()) {
      for (const key of Object.keys(v)) {
        if (key !== 'when' && key in e && e[key as keyof typeof e] !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['variants', i, key], message: `"${key}" is also given beside variants: say it in one place` })
        }
      }
    }
  })


export const capture = z.strictObject({
  /** Where to listen: `host01:ens33`, `host01/ns1:v1`, `internet:eth0`, `host02:any`. */
  on: z.string().regex(/^[a-z][\w-]*(\/[\w.-]+)?:[\w.-]+$/, 'host[/namespace]:interface').superRefine((v, ctx) => {
    const why = capturePointProblem(v)
    if (why) ctx.addIssue({ code: 'custom', message: why })
  }),
  filter: z.string().optional(),
})

export const packetPattern = z.strictObject({
  proto: z.enum(['icmp', 'arp', 'udp', 'tcp', 'ipip', 'vxlan']).optional(),
  /** IPv4 source (ARP: the sender's address). */
  src: ipv4.optional(),
  /** IPv4 destination (ARP: the address asked for). */
  dst: ipv4.optional(),
  ttl: z.number().int().min(0).max(255).optional(),
  icmp: z.enum(['echo-request', 'echo-reply', 'unreachable']).optional(),
  arp: z.enum(['request', 'reply']).optional(),
  vni: z.number().int().min(0).optional(),
  /** The packet an IP-in-IP or VXLAN packet carries. */
  get inner() {
    return packetPattern.optional()
  },
})

/** Packets matching a pattern seen at a capture point while the step runs. */
export const wireAssertion = z.strictObject({
  on: capture.shape.on,
  /** tcpdump filter for the capture, e.g. `icmp or arp`. */
  filter: z.string().optional(),
  match: packetPattern,
  min: z.number().int().min(0).optional(),
  /** 0: never seen. */
  max: z.number().int().min(0).optional(),
})

export const erratum = z.strictObject({
  /** The command the document should have given; it runs after the verbatim one. */
  corrected: z.string().superRefine(refuseControlCharacters),
  /** Why the verbatim command is wrong, for the lab author. */
  why: z.string(),
  /** What the corrected command must do (default: exit 0). */
  expect: expectation.optional(),
  /** Where the corrected command runs when the document names the wrong place (default: the
   *  step's `on`), e.g. a host route the document labels with a namespace. */
  on: target.optional(),
  /** Checks run after the verbatim command and before the correction: the evidence of what the
   *  defect does (the namespace's tunnel stays down, forwarding stays off). */
  shows: z.array(check).min(1).optional(),
})

/** Something the document says happens, or why, in the scenario's own words (the document's
 *  text is never copied here: the review reads it from the document). */
export const claim = z
  .strictObject({
    /** Unique in the scenario; steps name it in their `claims:`. */
    id: claimId,
    /** The document line the claim is on, 1-based. */
    line: docLine.optional(),
    /** Instead of `line`: the first and last document lines of the claim. */
    lines: z.tuple([docLine, docLine]).optional(),
    /** What the document claims, in our words. */
    says: z.string().min(1),
    /** The scenario's finding: true = the document is right, false = it is wrong. */
    holds: z.boolean(),
    /** With holds: false: what is true instead. */
    correction: z.string().min(1).optional(),
    /** With holds: false: the mechanism, in a sentence. */
    why: z.string().min(1).optional(),
    /** Instead of linked steps: why the claim cannot be tested here. */
    untestable: z.string().min(1).optional(),
  })
  .superRefine((c, ctx) => {
    if (c.line === undefined && c.lines === undefined) ctx.addIssue({ code: 'custom', message: 'a claim needs `line:` (the document line it is on) or `lines: [first, last]`' })
    if (c.line !== undefined && c.lines !== undefined) ctx.addIssue({ code: 'custom', path: ['lines'], message: 'give `line:` or `lines:`, not both' })
    if (c.lines && c.lines[0] > c.lines[1]) ctx.addIssue({ code: 'custom', path: ['lines'], message: `the first line (${c.lines[0]}) is after the last (${c.lines[1]})` })
    if (!c.holds) {
      for (const field of ['correction', 'why'] as const) {
        if (c[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: `a claim with holds: false needs \`${field}:\` (${field === 'correction' ? 'what is true instead' : 'the mechanism, in a sentence'})` })
      }
    }
  })

/** The claims a step is evidence for: ids from the scenario's `claims:`. */
const stepClaims = z.array(claimId).min(1)

const grading = {
  /** Grading: what the check is worth (default 1). */
  points: z.number().min(0).optional(),
  /** Grading: what a student should do when the check fails. */
  hint: z.string().optional(),
}

export const runStep = z.strictObject({
  on: target,
  /** The document's command, verbatim. */
  run: z.string().min(1).superRefine(refuseControlCharacters),
  /** Standard input, for a document command that opens a shell (`unshare -Cm bash`). */
  input: z.string().optional(),
  expect: expectation.optional(),
  erratum: erratum.optional(),
  requires: requirements.optional(),
  timeoutMs: z.number().int().positive().optional(),
  capture: z.array(capture).optional(),
  /** Claims about the packets on the wire while this step runs. */
  wire: z.array(wireAssertion).optional(),
  /** true: the scenario adds this command; the document does not give it here. Every other
   *  `run:` must stand in the document verbatim, in its order (checked when it is at hand). */
  added: z.boolean().optional(),
  /** The claims (ids from the scenario's `claims:`) this step is evidence for. */
  claims: stepClaims.optional(),
  /** Why this step is here or what the document says about it. */
  note: z.string().optional(),
})

export const checkStep = z.strictObject({
  check,
  name: z.string().optional(),
  requires: requirements.optional(),
  timeoutMs: z.number().int().positive().optional(),
  capture: z.array(capture).optional(),
  wire: z.array(wireAssertion).optional(),
  /** The claims (ids from the scenario's `claims:`) this check is evidence for. */
  claims: stepClaims.optional(),
  note: z.string().optional(),
  ...grading,
})

/** Starts a section of the document: the steps after it, up to the next section, inherit its
 *  requirements, so a section that needs ipip is skipped whole on a kernel without it. */
export const sectionStep = z.strictObject({
  section: z.string().min(1),
  requires: requirements.optional(),
  note: z.string().optional(),
})

export const step = z.union([runStep, checkStep, sectionStep])

export const scenario = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and dashes'),
  title: z.string(),
  /** `doc`: the document, a path relative to the scenario file or a name looked up in the
   *  document folders (`--docs DIR`, LABPROOF_DOCS, package.json `labproof.docs`). */
  source: z.strictObject({ doc: z.string(), section: z.string() }),
  requires: requirements.default({ kernel: [], tools: [] }),
  underlay: z.strictObject({ interface: interfaceName.optional(), gateway: ipv4.optional() }).optional(),
  hosts: z.record(hostKey, z.strictObject({ underlay: cidr.optional(), hostname: valid(hostnameProblem).optional() })).optional(),
  /** Default timeout for each command of this scenario. */
  timeoutMs: z.number().int().positive().optional(),
  /** Capture on these interfaces during every step. */
  capture: z.array(capture).optional(),
  /** What the document claims in its lab sections, each tied to the steps that test it. */
  claims: z.array(claim).optional(),
  steps: z.array(step).min(1),
}).superRefine((s, ctx) => {
  // Names and addresses together: one subnet, the gateway inside it (topology.ts).
  for (const p of topologyProblems({ interface: s.underlay?.interface, gateway: s.underlay?.gateway, hosts: s.hosts })) {
    ctx.addIssue({ code: 'custom', path: p.path, message: p.message })
  }
  claimProblems(s, ctx)
})

/** Claims and the steps naming them agree: ids unique, every named id declared, an untestable
 *  claim linked to no step. */
function claimProblems(s: { claims?: Claim[]; steps: Step[] }, ctx: z.core.$RefinementCtx<unknown>): void {
  const byId = new Map<string, Claim>()
  for (const [i, c] of (s.claims ?? []).entries()) {
    if (byId.has(c.id)) ctx.addIssue({ code: 'custom', path: ['claims', i, 'id'], message: `claim id "${c.id}" is used twice; ids are unique in a scenario` })
    else byId.set(c.id, c)
  }
  for (const [i, step] of s.steps.entries()) {
    if (!('claims' in step) || !step.claims) continue
    for (const [j, id] of step.claims.entries()) {
      const c = byId.get(id)
      if (!c) {
        const known = [...byId.keys()]
        ctx.addIssue({ code: 'custom', path: ['steps', i, 'claims', j], message: `no claim "${id}" in this scenario's claims:${known.length ? ` (its claims: ${known.join(', ')})` : ' (it has none)'}` })
      } else if (c.untestable !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['steps', i, 'claims', j], message: `claim "${id}" is marked untestable, so no step can be its evidence: drop \`untestable:\` or this link` })
      }
    }
  }
}

export type Scenario = z.infer<typeof scenario>
export type Step = z.infer<typeof step>
export type RunStep = z.infer<typeof runStep>
export type CheckStep = z.infer<typeof checkStep>
export type SectionStep = z.infer<typeof sectionStep>
export type Check = z.infer<typeof check>
export type Claim = z.infer<typeof claim>
export type Expectation = z.infer<typeof expectation>
export type ExpectationVariant = z.infer<typeof expectationVariant>
export type Requirements = z.infer<typeof requirements>
export type CaptureSpec = z.infer<typeof capture>
export type WireAssertionSpec = z.infer<typeof wireAssertion>

export function isRunStep(s: Step | RunStep | CheckStep): s is RunStep {
  return 'run' in s
}

export function isSectionStep(s: Step): s is SectionStep {
  return 'section' in s
}
