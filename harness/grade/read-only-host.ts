// Grading never changes a student's machine. The checks only read state, and this wrapper makes
// that a guarantee rather than a habit: it runs nothing but the read-only probe commands the
// check kinds declare (harness/checks/<kind>.ts, grading.probes: ping, `ip -j … show`,
// `bridge -j link show`, `sysctl -n`, `iptables -S`, …) and `command -v`, and refuses anything
// else before it reaches the machine.
import { GRADING_PROBES, GRADING_TOOLS } from '../checks/index.ts'
import { requireFailure, requireSuccess, type Capabilities, type ExecOptions, type ExecResult, type Host } from '../host.ts'
// The end state's probe (harness/endstate/probe.ts) reads only, too.
import { END_STATE_PROBES } from '../endstate/probe.ts'

/** The probe grading runs first: which tools exist, and what machine this is. */
export const MACHINE_PROBE = `hostname; uname -r; for t in ${GRADING_TOOLS.join(' ')}; do command -v "$t" >/dev/null 2>&1 && echo "tool:$t"; done; true`

export function isReadOnlyCommand(cmd: string): boolean {
  return cmd === MACHINE_PROBE || GRADING_PROBES.some((re) => re.test(cmd)) || END_STATE_PROBES.some((re) => re.test(cmd))
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
