// The Host verbs every backend shares. A backend supplies only `runShell` (run one sh script in
// the host, never throwing) and `copyFrom`.
import { probeCapabilities } from './capabilities.ts'
import {
  CommandError, requireFailure, requireSuccess, shellQuote,
  type Capabilities, type ExecOptions, type ExecResult, type Host,
} from './host.ts'

export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000

export abstract class BaseHost implements Host {
  private probed?: Promise<Capabilities>

  constructor(readonly name: string) {}

  /** Run `script` with sh inside the host; kill it and its children after `timeoutMs`. */
  protected abstract runShell(script: string, opts: { timeoutMs: number; input?: string }): Promise<Omit<ExecResult, 'host' | 'command' | 'netns'>>

  abstract copyFrom(remotePath: string, localPath: string): Promise<void>

  async exec(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const script = opts.netns ? `ip netns exec ${shellQuote(opts.netns)} sh -c ${shellQuote(cmd)}` : cmd
    const result = await this.runShell(script, { timeoutMs: opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, input: opts.input })
    return { host: this.name, ...(opts.netns ? { netns: opts.netns } : {}), command: cmd, ...result }
  }

  async succeed(cmd: string, opts?: ExecOptions): Promise<string> {
    return requireSuccess(await this.exec(cmd, opts))
  }

  async fail(cmd: string, opts?: ExecOptions): Promise<string> {
    return requireFailure(await this.exec(cmd, opts))
  }

  async waitUntilSucceeds(cmd: string, opts: ExecOptions & { intervalMs?: number } = {}): Promise<string> {
    const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS)
    for (;;) {
      const left = deadline - Date.now()
      const r = await this.exec(cmd, { ...opts, timeoutMs: Math.max(left, 1) })
      if (r.exitCode === 0) return r.stdout
      if (Date.now() + (opts.intervalMs ?? 100) >= deadline) {
        throw new CommandError(r, `the command did not succeed on ${this.name} within ${opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS} ms`)
      }
      await new Promise((res) => setTimeout(res, opts.intervalMs ?? 100))
    }
  }

  capabilities(): Promise<Capabilities> {
    this.probed ??= probeCapabilities(this)
    return this.probed
  }
}
