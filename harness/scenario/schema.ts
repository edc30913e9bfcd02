// The scenario format: one YAML file per lab document. Validated here; `npm run schema` writes
// scenarios/schema.json from this file for editors.
import { z } from 'zod'
import { KERNEL_FEATURES, TOOLS } from '../host.ts'

const ipv4 = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/, 'an IPv4 address like 10.10.20.2')
const cidr = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'an address with prefix like 192.168.21.11/24')

/** `host01` or `host01/ns1` (a network namespace inside host01). */
export const target = z.string().regex(/^[a-z][\w-]*(\/[\w.-]+)?$/, 'a host like host01, or host/namespace like host01/ns1')

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
  on: z.string().regex(/^[a-z][\w-]*(\/[\w.-]+)?:[\w.@-]+$/, 'host[/namespace]:interface'),
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

const pingCheck = z.strictObject({
  from: target,
  to: ipv4,
  reachable: z.boolean().default(true),
  ttl: z.number().int().min(0).max(255).optional(),
  /** Packet loss in percent, e.g. 0. */
  loss: z.number().min(0).max(100).optional(),
  count: z.number().int().min(1).max(100).default(3),
  /** ping -I: send from this interface. */
  interface: z.string().optional(),
})

const routeCheck = z.strictObject({
  on: target,
  /** `default`, `10.10.20.0/24`, or a host `172.16.20.20`. */
  dst: z.string(),
  via: ipv4.optional(),
  dev: z.string().optional(),
  present: z.boolean().default(true),
})

const linkCheck = z.strictObject({
  on: target,
  name: z.string(),
  exists: z.boolean().default(true),
  /** Administrative state: `ip link set NAME up` makes it up. */
  state: z.enum(['up', 'down']).optional(),
  type: z.enum(['veth', 'bridge', 'ipip', 'gre', 'tun', 'tap', 'vxlan', 'macvlan', 'loopback', 'ether']).optional(),
  master: z.string().optional(),
  /** Addresses with prefix the link must carry (others may exist). */
  addresses: z.array(cidr).optional(),
  /** Peer address of a point-to-point address (`ip addr add A peer B`). */
  peer: ipv4.optional(),
  /** Whether the link has a MAC address (a tun has none, a tap has one). */
  mac: z.boolean().optional(),
})

const bridgeCheck = z.strictObject({
  on: target,
  name: z.string(),
  /** Ports and the STP state each must be in: forwarding, disabled, blocking, listening, learning. */
  ports: z.record(z.string(), z.enum(['forwarding', 'disabled', 'blocking', 'listening', 'learning', 'any'])),
  /** Whether ports not listed are an error. */
  exact: z.boolean().default(false),
})

const sysctlCheck = z.strictObject({
  on: target,
  key: z.string().regex(/^[\w.-]+$/),
  value: z.union([z.string(), z.number()]).transform(String),
})

const iptablesCheck = z.strictObject({
  on: target,
  table: z.enum(['filter', 'nat', 'mangle', 'raw', 'security']).default('filter'),
  chain: z.string(),
  /** The rule as `iptables -S` prints it after `-A CHAIN`, e.g. `-s 192.168.28.0/24 -j MASQUERADE`. */
  rule: z.string(),
  present: z.boolean().default(true),
})

const natCheck = z.strictObject({
  /** The private side: usually a namespace behind a host, `host01/ns1`. */
  from: target,
  /** An address on the simulated internet, `8.8.8.8`. */
  to: ipv4,
  /** true: replies come back and the internet host sees the host's underlay address as
   *  source, never the private one. false: the internet host sees the private source and no
   *  reply comes back. */
  masqueraded: z.boolean(),
})

export const checkKinds = {
  ping: pingCheck,
  route: routeCheck,
  link: linkCheck,
  bridge: bridgeCheck,
  sysctl: sysctlCheck,
  iptables: iptablesCheck,
  nat: natCheck,
}
export type CheckKind = keyof typeof checkKinds

export const check = z
  .strictObject({
    ping: pingCheck.optional(),
    route: routeCheck.optional(),
    link: linkCheck.optional(),
    bridge: bridgeCheck.optional(),
    sysctl: sysctlCheck.optional(),
    iptables: iptablesCheck.optional(),
    nat: natCheck.optional(),
  })
  .refine((c) => Object.keys(c).length === 1, {
    message: `a check names exactly one kind: ${Object.keys(checkKinds).join(', ')}`,
  })

export const erratum = z.strictObject({
  /** The command the document should have given; it runs after the verbatim one. */
  corrected: z.string(),
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

const grading = {
  /** Grading: what the check is worth (default 1). */
  points: z.number().min(0).optional(),
  /** Grading: what a student should do when the check fails. */
  hint: z.string().optional(),
}

export const runStep = z.strictObject({
  on: target,
  /** The document's command, verbatim. */
  run: z.string().min(1),
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
  underlay: z.strictObject({ interface: z.string().optional(), gateway: ipv4.optional() }).optional(),
  hosts: z.record(z.string().regex(/^[a-z][\w-]*$/), z.strictObject({ underlay: cidr.optional(), hostname: z.string().optional() })).optional(),
  /** Default timeout for each command of this scenario. */
  timeoutMs: z.number().int().positive().optional(),
  /** Capture on these interfaces during every step. */
  capture: z.array(capture).optional(),
  steps: z.array(step).min(1),
})

export type Scenario = z.infer<typeof scenario>
export type Step = z.infer<typeof step>
export type RunStep = z.infer<typeof runStep>
export type CheckStep = z.infer<typeof checkStep>
export type SectionStep = z.infer<typeof sectionStep>
export type Check = z.infer<typeof check>
export type Expectation = z.infer<typeof expectation>
export type ExpectationVariant = z.infer<typeof expectationVariant>
export type Requirements = z.infer<typeof requirements>
export type CaptureSpec = z.infer<typeof capture>
export type WireAssertionSpec = z.infer<typeof wireAssertion>
export type PingCheck = z.infer<typeof pingCheck>
export type RouteCheck = z.infer<typeof routeCheck>
export type LinkCheck = z.infer<typeof linkCheck>
export type BridgeCheck = z.infer<typeof bridgeCheck>
export type SysctlCheck = z.infer<typeof sysctlCheck>
export type IptablesCheck = z.infer<typeof iptablesCheck>
export type NatCheck = z.infer<typeof natCheck>

export function isRunStep(s: Step | RunStep | CheckStep): s is RunStep {
  return 'run' in s
}

export function isSectionStep(s: Step): s is SectionStep {
  return 'section' in s
}
