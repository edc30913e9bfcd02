// What one step or check works with: the lab, the commands it ran (its transcript, attached to
// the report), notes on how commands were bounded, and evidence files such as pcaps.
import type { Capture } from '../capture/pcap.ts'
import type { ExecResult, Host } from '../host.ts'
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

  constructor(readonly lab: Lab, readonly timeoutMs: number) {}

  target(target: string): Target {
    return resolveTarget(this.lab, target)
  }

  /** Run a command on `host01` or `host01/ns1`, recording it in the transcript. */
  async run(target: string, cmd: string, opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    const t = this.target(target)
    const r = await t.host.exec(cmd, { netns: t.netns, input: opts.input, timeoutMs: opts.timeoutMs ?? this.timeoutMs })
    this.transcript.push(r)
    return r
  }

  /** Like run, but a non-zero exit is a failure of the check itself (a broken probe). */
  async query(target: string, cmd: string): Promise<string> {
    const r = await this.run(target, cmd)
    if (r.exitCode !== 0) {
      throw new Error(`could not read the state on ${target}: \`${cmd}\` exited ${r.exitCode}: ${(r.stderr || r.stdout).trim()}`)
    }
    return r.stdout
  }
}
