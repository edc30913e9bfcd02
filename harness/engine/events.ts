// What the engine tells its subscribers while it runs a scenario on a lab. Every report is a
// subscriber: Allure, the run records (which the JUnit file, the matrix and `labproof errata`
// read), the end state, and any other writer that wants a step's verdict, transcript and
// evidence. The vitest binding drives the engine and takes each step's verdict from runStep.
import type { Capabilities, ExecResult } from '../host.ts'
import type { Lab } from '../lab.ts'
import type { LoadedScenario } from '../scenario/loader.ts'
import type { PlannedStep } from '../scenario/plan.ts'
import type { StepOutcome } from '../scenario/run-step.ts'
import type { Attachment } from '../scenario/step-context.ts'
import type { RunOptions } from './run-options.ts'

/** Which run an event belongs to. */
export interface RunOf {
  scenario: LoadedScenario
  options: RunOptions
  /** The matrix cell: `netns`, `docker bookworm`, `qemu kernel 6.1`. */
  cell: string
}

/** What a step that ran left behind: its commands and what came back, and its evidence. */
export interface StepRecord {
  /** Every command the step ran, in order. */
  transcript: ExecResult[]
  /** How commands were bounded (`ping` given a count, `tcpdump` a time limit). */
  notes: string[]
  /** Evidence files: pcaps and their decodes. */
  attachments: Attachment[]
}

export type EngineEvent = RunOf & (
  | { type: 'lab-up'; lab: Lab; ms: number }
  /** A host's capabilities, probed the first time a step needed that host. */
  | { type: 'host-probed'; capabilities: Capabilities }
  | { type: 'step-started'; step: PlannedStep; title: string }
  /** A step that ran, passed or failed, with its transcript and evidence. */
  | { type: 'step-result'; step: PlannedStep; title: string; result: RanStep; ms: number }
  /** Not run: a host lacks what it needs, an earlier step failed, or there is no lab. */
  | { type: 'step-skipped'; step: PlannedStep; title: string; reason: string }
  | { type: 'lab-down'; ms: number }
)

export type EngineEventType = EngineEvent['type']
export type EventOf<T extends EngineEventType> = Extract<EngineEvent, { type: T }>

/** Handlers by event type; each is awaited, in the order subscribers were added. */
export type Subscriber = { [T in EngineEventType]?: (event: EventOf<T>) => void | Promise<void> }

/** A step that ran: what it showed (its summary, an erratum confirmed), or why it failed. */
export type RanStep =
  | { status: 'passed'; record: StepRecord; outcome: StepOutcome }
  | { status: 'failed'; record: StepRecord; error: unknown }

/** The verdict of one step, as the engine returns it to whoever drives it. */
export type StepResult = RanStep | { status: 'skipped'; reason: string }
