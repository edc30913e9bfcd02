// The Host verbs every backend shares. A backend supplies only `runShell` (run one sh script in
// the host, never throwing) and `copyFrom`.
import { probeCapabilities } from './capabilities.ts'
import {
  CommandError, requireFailure, requireSuccess, shellQuote,
  type BatchCommand, type Capabilities, type ExecBatch, type ExecOptions, type ExecResult, type ExitGate, type Host,
} from './host.ts'
import type { BatchItem, BatchRun } from './shell-server.ts'

export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000

export abstract class BaseHost implements Host {
  private probed?: Promise<Capabilities>

  constructor(readonly name: string) {}

  /** Run `script` with sh inside the host; kill it and its children after `timeoutMs`. */
  protected abstract runShell(script: string, opts: { timeoutMs: number; input?: string }): Promise<Omit<ExecResult, 'host' | 'command' | 'netns'>>

  abstract copyFrom(remotePath: string, localPath: string): Promise<void>

  /** Run the scripts in one request when the host can (a shell server: ShellServer.runBatch);
   *  undefined: it cannot, and execBatch runs them one exec after another. */
  protected runShellBatch(_items: BatchItem[]): Promise<BatchRun | undefined> {
    return Promise.resolve(undefined)
  }

  async exec(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const result = await this.runShell(hostScript(cmd, opts.netns), { timeoutMs: opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, input: opts.input })
    return { host: this.name, ...(opts.netns ? { netns: opts.netns } : {}), command: cmd, ...result }
  }

  execBatch(commands: BatchCommand[]): ExecBatch {
    const items: BatchItem[] = commands.map((c) => ({
      script: hostScript(c.cmd, c.netns),
      ...(c.input !== undefined ? { input: c.input } : {}),
      timeoutMs: c.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      gate: c.goOn,
    }))
    const batch = this.runShellBatch(items).then((b) => b ?? this.runOneByOne(items))
    return {
      results: commands.map((c, i) => batch.then((b) => b.results[i]!).then((r) => r && { host: this.name, ...(c.netns ? { netns: c.netns } : {}), command: c.cmd, ...r })),
      stop: async () => (await batch).stop(),
    }
  }

  /** A batch as one runShell after another, with the same gates: for hosts without a server. */
  private runOneByOne(items: BatchItem[]): BatchRun {
    let stopped = false
    let previous: Promise<boolean> = Promise.resolve(true)
    const results = items.map((item) => {
      const result = previous.then((goOn) => (goOn && !stopped ? this.runShell(item.script, { timeoutMs: item.timeoutMs, input: item.input }) : undefined))
      previous = result.then((r) => r !== undefined && !r.timedOut && passesGate(item.gate, r.exitCode), () => false)
      return result
    })
    return { results, stop: async () => void (stopped = true) }
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

/** The script a host runs for `cmd`, inside `netns` when there is one. */
export function hostScript(cmd: string, netns: string | undefined): string {
  if (!netns) return cmd
  // ip and bridge see a namespace through netlink alone: they enter it themselves (-n, a setns:
  // 4 ms a command here, against 11 ms for ip netns exec's mount namespace, /sys and a shell).
  if (entersNamespaceItself(cmd)) return cmd.replace(/^(ip|bridge) /, `$1 -n ${shellQuote(netns)} `)
  return `ip netns exec ${shellQuote(netns)} sh -c ${shellQuote(cmd)}`
}

/** `ip …`/`bridge …` of plain words that names no namespace, command to run, batch or -all of
 *  its own (options may be shortened: `-n` is `-netns`). */
function entersNamespaceItself(cmd: string): boolean {
  if (!/^(?:ip|bridge)(?: [\w./:=,@%+-]+)+$/.test(cmd)) return false
  const own = ['-netns', '-batch', '-all', '-force']
  return !cmd.split(' ').some((w) => w === 'netns' || w === 'exec' || (w.length >= 2 && own.some((o) => o.startsWith(w))))
}

export function passesGate(gate: ExitGate, status: number): boolean {
  return gate === 'any' || (gate === 'nonzero' ? status !== 0 : status === gate)
}
