// The contract of a check kind. A kind is one file in this folder, harness/checks/<kind>.ts,
// whose default export is defineCheck({...}): its schema, how it runs, what a host needs for it,
// the read-only commands grading may send for it, and its title. `npm run schema` lists the
// files (kinds.ts, generated), the registry (index.ts) reads the list, and everything else reads
// the registry: the scenario schema and scenarios/schema.json, dispatch, requirement inference,
// grading's plan and allowlist, and the loader's messages. Adding a kind is adding its file (and
// its test) and running `npm run schema`; nothing else is edited.
import type { z } from 'zod'
import type { CaptureSpec } from '../capture/tcpdump.ts'
import type { KernelFeature, Tool } from '../host.ts'
import type { StepContext } from '../scenario/step-context.ts'

/** What grading knows about the machine it grades, for notGradable. */
export interface GradingMachine {
  /** The role the machine plays: `host01`. */
  role: string
  /** The lab's other nodes by address: another host's underlay address, the gateway, the
   *  simulated internet's addresses. The student's machine controls none of them. */
  otherNodes: Map<string, string>
  /** The name otherNodes gives the simulated internet host. */
  internet: string
}

export interface CheckKindSpec<Body extends Record<string, unknown>> {
  /** The key in a scenario, `check: { NAME: {...} }`, and the file's name, NAME.ts. */
  name: string
  /** What the kind asserts, in one line (the JSON Schema's description for editors). */
  description: string
  /** The body's fields, validated at load (a zod object; `strictObject`, so a typo is refused). */
  schema: z.ZodType<Body>
  /** The body's fields that name where the check looks (`host01` or `host01/ns1`), first the one
   *  it runs on. The loader checks each names a host of the scenario; the engine probes those. */
  targets: readonly (keyof Body & string)[]
  /** What a host needs for the check in a lab run; a host lacking it skips the step with the
   *  reason. List tcpdump when the check proves its claim on the wire. */
  requires: { tools: readonly Tool[]; kernel?: readonly KernelFeature[] }
  /** The check only reads configuration (links, addresses, routes, rules, sysctls): it sends no
   *  packet and reads nothing that traffic changes, so it may run while an earlier "no reply"
   *  claim waits for its verdict (engine/run-ahead.ts). */
  readsConfigOnly?: boolean
  /** The commands the check runs first, always, before it judges anything (each `on` a target
   *  as in a scenario): the engine may run them in a batch with the document commands around the
   *  check (engine.ts), and the check's run() gets their results without a round trip of its
   *  own. Only for kinds that send no packet (readsConfigOnly). */
  reads?(body: Body): { on: string; command: string }[]
  /** The captures the check reads in a lab run: one window, through these filters, opened
   *  before the check runs any command and closed after its last. Known before the lab runs, so
   *  they are started ahead of its step (engine.ts), and the window is marked and cut with its
   *  step's own (capture/evidence.ts). */
  captures?(body: Body): CaptureSpec[]
  /** One line naming the claim: `mtu 1400 on v1 at host01/ns1`. */
  title(body: Body): string
  /** Runs the check in a lab: returns a one-line summary of what it saw, or throws
   *  CheckFailure (check-failure.ts) saying what was expected and what came back. */
  run(body: Body, ctx: StepContext): Promise<string>
  grading: {
    /** Every command the kind may send to a student's machine, whole (anchored); grading
     *  refuses anything else before it is sent (grade/read-only-host.ts). Only reads. */
    probes: readonly RegExp[]
    /** The programs those commands run; a machine lacking one has the check "needs setup". */
    tools: readonly Tool[]
    /** What the check is about: two checks with one subject describe one thing at two times,
     *  and only the last (the finished lab) is graded. */
    subject(body: Body): unknown[]
    /** Why the check cannot be judged on the student's machine as found, or undefined. */
    notGradable?(body: Body, machine: GradingMachine): string | undefined
    /** How grading runs it when that differs from `run` (no capture: only `probes` may run). */
    run?(body: Body, ctx: StepContext): Promise<string>
  }
}

const CHECK_KIND = Symbol.for('labproof.checkKind')

export type CheckKindDefinition<Body extends Record<string, unknown> = Record<string, unknown>> = CheckKindSpec<Body> & { readonly [CHECK_KIND]: true }

/** A kind file's default export. */
export function defineCheck<Body extends Record<string, unknown>>(spec: CheckKindSpec<Body>): CheckKindDefinition<Body> {
  return { ...spec, [CHECK_KIND]: true }
}

export function isCheckKind(value: unknown): value is CheckKindDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[CHECK_KIND] === true
}

/** One shell argument in a probe pattern: plain characters, or single-quoted without a quote
 *  inside (what shellQuote writes). */
export const SHELL_ARG = String.raw`(?:[\w.:/@%+=,-]+|'[^']*')`
