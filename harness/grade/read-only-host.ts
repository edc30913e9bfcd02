// Grading never changes a student's machine. The checks only read state, and this wrapper makes
// that a guarantee rather than a habit: it runs nothing but the read-only probe commands the
// checks issue (ping, `ip -j … show`, `bridge -j link show`, `sysctl -n`, `iptables -S`,
// `command -v`), and refuses anything else before it reaches the machine.
import { requireFailure, requireSuccess, type Capabilities, type ExecOptions, type ExecResult, type Host } from '../host.ts'

/** One argument: plain characters, or single-quoted without a quote inside (shellQuote's output). */
const ARG = String.raw`(?:[\w.:/@%+=,-]+|'[^']*')`

const READ_ONLY_COMMANDS: RegExp[] = [
  new RegExp(String.raw`^ping -c \d+ -i [\d.]+ -W \d+(?: -I ${ARG})? [\d.]+$`),
  /^ip -j route show$/,
  new RegExp(String.raw`^ip -j -d addr show dev ${ARG}$`),
  /^bridge -j link show$/,
  /^sysctl -n [\w.-]+$/,
  new RegExp(String.raw`^iptables -t (?:filter|nat|mangle|raw|security) -S ${ARG}$`),
]

/** The probe grading runs first: which tools exist, and what machine this is. */
export const MACHINE_PROBE = 'hostname; uname -r; for t in ip ping bridge sysctl iptables; do command -v "$t" >/dev/null 2>&1 && echo "tool:$t"; done; true'

export function isReadOnlyCommand(cmd: string): boolean {
  return cmd === MACHINE_PROBE || READ_ONLY_COMMANDS.some((re) => re.test(cmd))
}

export class ReadOnlyRefusal extends Error {}

export class ReadOnlyHost implements Host {
  constructor(private readonly inner: Host) {}

  get name(): string {
    return this.inner.name
  }

  exec(cmd: string, opts?: ExecOptions): Promise<ExecResult> {
    if (!isReadOnlyCommand(cmd) || (opts?.input !== undefined)) {
      return Promise.reject(new ReadOnlyRefusal(`grading runs only read-only commands; refused to run \`${cmd}\` on ${this.name}`))
    }
    return this.inner.exec(cmd, opts)
  }

  async succeed(cmd: string, opts?: ExecOptions): Promise<string> {
    return requireSuccess(await this.exec(cmd, opts))
  }

  async fail(cmd: string, opts?: ExecOptions): Promise<string> {
    return requireFailure(await this.exec(cmd, opts))
  }

  waitUntilSucceeds(cmd: string): Promise<string> {
    return Promise.reject(new ReadOnlyRefusal(`grading takes the state as found and does not wait for it to change (\`${cmd}\`)`))
  }

  copyFrom(remotePath: string): Promise<void> {
    return Promise.reject(new ReadOnlyRefusal(`grading copies nothing from the machine (${remotePath})`))
  }

  capabilities(): Promise<Capabilities> {
    // The capability probe creates links (in a scratch namespace) to try kernel features.
    return Promise.reject(new ReadOnlyRefusal('grading does not probe kernel features: that creates links on the machine'))
  }
}
