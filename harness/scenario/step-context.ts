// What one step or check works with: the lab, the commands it ran (its transcript, attached to
// the report), notes on how commands were bounded, and evidence files such as pcaps.
import type { CaptureSet } from '../capture/capture-set.ts'
import type { Capture } from '../capture/pcap.ts'
import { formatResult, type ExecResult, type Host } from '../host.ts'
import { ReplyWait } from '../checks/reply-wait.ts'
import type { Lab } from '../lab.ts'

export interface Attachment {
  name: string
  content: Buffer | string
  contentType: string
  fileExtension?: string
}

export interface Target {
  host: Host
  netns?: string
  /** As written in the scenario: `host01/ns1`. */
  label: string
}

export function resolveTarget(lab: Lab, target: string): Target {
  const [hostName, netns] = target.split('/') as [string, string | undefined]
  return { host: lab.host(hostName), ...(netns ? { netns } : {}), label: target }
}

export class StepContext {
  readonly transcript: ExecResult[] = []
  readonly notes: string[] = []
  readonly attachments: Attachment[] = []
  /** Decoded captures of this step by capture point, for wire checks. */
  readonly captured = new Map<string, Capture>()
  /** The lab's reply times, shared by its steps: how long a "no reply" check waits. */
  readonly replyWait: ReplyWait
  /** The lab's kept captures; without them a step's captures are its own (grading, tests). */
  readonly captures: CaptureSet | undefined
  /** Settles when the step lets the scenario go on before its verdict: a "no reply" claim whose
   *  pings are on their way (goOn()). */
  readonly wentOn: Promise<void>
  private letGoOn: () => void = () => {}

  constructor(
    readonly lab: Lab,
    readonly timeoutMs: number,
    /** explainMissingNamespace: an `on: host/ns` naming a namespace the host lacks fails the
     *  step with the namespaces it has (a scenario run); grading reads only, and says so itself. */
    private readonly opts: { explainMissingNamespace?: boolean; replyWait?: ReplyWait; captures?: CaptureSet } = {},
  ) {
    this.replyWait = opts.replyWait ?? new ReplyWait(lab.noReplyWaitS)
    this.captures = opts.captures
    this.wentOn = new Promise((resolve) => (this.letGoOn = resolve))
  }

  /** The rest of this step only waits for an answer it claims will not come: the scenario may
   *  go on (engine.ts decides which later steps may run before this one's verdict). */
  goOn(): void {
    this.letGoOn()
  }

  target(target: string): Target {
    return resolveTarget(this.lab, target)
  }

  /** Run a command on `host01` or `host01/ns1`, recording it in the transcript. */
  async run(target: string, cmd: string, opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    const t = this.target(target)
    const key = `${target}\n${cmd}`
    const ran = opts.input === undefined && opts.timeoutMs === undefined ? await this.ranAhead.get(key) : undefined
    this.ranAhead.delete(key)
    const r = ran ?? await t.host.exec(cmd, { netns: t.netns, input: opts.input, timeoutMs: opts.timeoutMs ?? this.timeoutMs })
    await this.record(target, r)
    return r
  }

  /** Results of commands this step's check runs first (its kind's `reads`), run in a batch
   *  before the step began (engine.ts): run() hands each over once, when the check asks for
   *  that very command; one the batch did not run is run then. */
  private readonly ranAhead = new Map<string, Promise<ExecResult | undefined>>()

  /** A result of `cmd` on `target` that run() gives the first time it is asked for it. */
  ranBefore(target: string, cmd: string, result: Promise<ExecResult | undefined>): void {
    this.ranAhead.set(`${target}\n${cmd}`, result)
  }

  /** Record what a command run on `target` gave (run does; the engine's batches run commands
   *  for several steps at once and hand each step its own). */
  async record(target: string, r: ExecResult): Promise<void> {
    const t = this.target(target)
    this.transcript.push(r)
    if (t.netns && this.opts.explainMissingNamespace && r.exitCode !== 0) await this.assertNamespaceExists(t, r)
  }

  /** Like run, but a non-zero exit is a failure of the check itself (a broken probe). */
  async query(target: string, cmd: string): Promise<string> {
    const r = await this.run(target, cmd)
    if (r.timedOut) {
      throw new Error(`could not read the state on ${target}: \`${cmd}\` did not finish within ${this.timeoutMs} ms and was killed (raise the step's timeoutMs if it needs longer)\n${formatResult(r)}`)
    }
    if (r.exitCode !== 0) {
      throw new Error(`could not read the state on ${target}: \`${cmd}\` exited ${r.exitCode}: ${(r.stderr || r.stdout).trim()}`)
    }
    return r.stdout
  }

  /** `ip netns exec` could not enter the namespace: say that it does not exist, and which do. */
  private async assertNamespaceExists(t: Target, r: ExecResult): Promise<void> {
    if (!/Cannot open network namespace "[^"]*": No such file or directory/.test(r.stderr)) return
    const listed = await t.host.exec('ip netns list', { timeoutMs: 10_000 })
    const names = listed.exitCode === 0 ? listed.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean) : []
    const have = listed.exitCode !== 0 ? `(ip netns list failed: ${listed.stderr.trim()})` : names.length ? `its namespaces are: ${names.join(', ')}` : 'it has none'
    throw new Error(
      `${t.host.name} has no network namespace "${t.netns}" (on: ${t.label}); ${have}. ` +
      `Create it in an earlier step (ip netns add ${t.netns}) or fix the step's \`on:\`.\n${formatResult(r)}`,
    )
  }
}
