// The registry of check kinds: every harness/checks/<kind>.ts whose default export is
// defineCheck({...}) (kind.ts), as kinds.ts lists them (generated from the folder by `npm run
// schema`). The scenario schema, dispatch, requirement inference, grading and the loader's
// messages read it; none of them names a kind.
import { z } from 'zod'
import type { CaptureSpec } from '../capture/tcpdump.ts'
import type { KernelFeature, Tool } from '../host.ts'
import type { StepContext } from '../scenario/step-context.ts'
import { isCheckKind, type CheckKindDefinition } from './kind.ts'
import { KIND_FILES } from './kinds.ts'

function registered(): CheckKindDefinition[] {
  return Object.entries(KIND_FILES as Record<string, unknown>).map(([file, kind]) => {
    if (!isCheckKind(kind)) throw new Error(`harness/checks/${file}.ts: its default export must be defineCheck({...})`)
    if (kind.name !== file) throw new Error(`harness/checks/${file}.ts: the check kind "${kind.name}" must live in ${kind.name}.ts`)
    return kind
  })
}

/** Every kind by name, in alphabetical order. */
export const CHECK_KINDS: ReadonlyMap<string, CheckKindDefinition> = new Map(registered().map((k) => [k.name, k]))
export const CHECK_KIND_NAMES: readonly string[] = [...CHECK_KINDS.keys()]

/** `check: { KIND: {...} }`: exactly one kind, its body validated by that kind's schema. */
export const check = z
  .strictObject(Object.fromEntries([...CHECK_KINDS].map(([name, k]) => [name, k.schema.describe(k.description).optional()])))
  .refine((c) => Object.keys(c).length === 1, { message: `a check names exactly one kind: ${CHECK_KIND_NAMES.join(', ')}` })

export type Check = z.output<typeof check>

/** The kind of a validated check. */
export function kindOf(c: Check): CheckKindDefinition {
  const name = checkKind(c)
  const kind = CHECK_KINDS.get(name)
  if (!kind) throw new Error(`no check kind "${name}"; the kinds are ${CHECK_KIND_NAMES.join(', ')}`)
  return kind
}

export function checkKind(c: Check): string {
  return Object.keys(c)[0]!
}

export function checkBody(c: Check): Record<string, unknown> {
  return Object.values(c)[0] as Record<string, unknown>
}

/** Runs a check in a lab: a one-line summary of what it saw, or a thrown CheckFailure. */
export function runCheck(c: Check, ctx: StepContext): Promise<string> {
  return kindOf(c).run(checkBody(c), ctx)
}

/** Runs a check on a student's machine: only the kind's read-only probes are sent. */
export function runCheckForGrading(c: Check, ctx: StepContext): Promise<string> {
  const kind = kindOf(c)
  return (kind.grading.run ?? kind.run)(checkBody(c), ctx)
}

/** The commands a check runs first (kind.ts, reads), or none when its kind does not say. */
export function checkReads(c: Check): { on: string; command: string }[] {
  const kind = kindOf(c)
  return kind.readsConfigOnly ? kind.reads?.(checkBody(c)) ?? [] : []
}

/** The captures a check reads in a lab run (kind.ts, captures). */
export function checkCaptures(c: Check): CaptureSpec[] {
  return kindOf(c).captures?.(checkBody(c)) ?? []
}

/** A short title: `ping 10.10.20.2 from host01/ns1 (ttl 63)`. */
export function describeCheck(c: Check): string {
  return kindOf(c).title(checkBody(c))
}

/** What a host needs for the check in a lab run. */
export function checkRequirements(c: Check): { tools: Tool[]; kernel: KernelFeature[] } {
  const { tools, kernel = [] } = kindOf(c).requires
  return { tools: [...tools], kernel: [...kernel] }
}

/** Where the check looks, as written: `host01/ns1`; the first is where it runs. */
export function checkTargets(c: Check): { field: string; target: string }[] {
  const body = checkBody(c)
  return kindOf(c).targets.flatMap((field) => (typeof body[field] === 'string' ? [{ field, target: body[field] as string }] : []))
}

/** Every command any kind may send to a student's machine (grade/read-only-host.ts). */
export const GRADING_PROBES: readonly RegExp[] = [...CHECK_KINDS.values()].flatMap((k) => k.grading.probes)

/** Every program grading may run for some kind, to see which a machine has. */
export const GRADING_TOOLS: readonly string[] = [...new Set([...CHECK_KINDS.values()].flatMap((k) => k.grading.tools))]
