// Reading a machine's end state: the read-only commands, run in the root namespace and in each
// network namespace, and what came back, unparsed. The same probe reads the lab's hosts when
// `labproof run` records the reference, and a student's machine when it is graded.
import { type BatchCommand, type ExecBatch, type ExecOptions, type ExecResult } from '../host.ts'
import { tablesFromSave } from './iptables-save.ts'
import { sysctlsFromListing } from './sysctl-listing.ts'

/** Every command the probe sends, for the grading allowlist (harness/grade/read-only-host.ts). */
export const END_STATE_PROBES: RegExp[] = [
  /^ip -j netns list$/,
  /^ip -j -d addr show$/,
  /^ip -j route show$/,
  // Keys only: no option (`sysctl -p` loads /etc/sysctl.conf, `-w` writes).
  /^sysctl(?: [a-z][\w.-]*)+$/,
  /^iptables-save$/,
  /^iptables -V$/,
]

export interface NamespaceProbe {
  /** `ip -j -d addr show`: links with their kind, master, peer index, addresses, and as a
   *  bridge's port its state (what `bridge link` shows, one program fewer). */
  addr: ExecResult
  routes: ExecResult
}

export interface RawEndState {
  namespaces: ExecResult
  /** '' is the root namespace. */
  perNamespace: Record<string, NamespaceProbe>
  /** Each key's value, from one `sysctl KEY…` (sysctl-listing.ts). */
  sysctls: Record<string, ExecResult>
  /** Each table as `iptables -t TABLE -S` lists it, from one `iptables-save` (iptables-save.ts). */
  iptables: Record<string, ExecResult>
  iptablesVersion: ExecResult
}

export interface Exec {
  exec(cmd: string, opts?: ExecOptions): Promise<ExecResult>
  /** A lab's own hosts run a list of commands in one request (Host.execBatch). */
  execBatch?(commands: BatchCommand[]): ExecBatch
}

/** Namespace names from `ip -j netns list` (empty output when there are none). */
export function namespaceNames(r: ExecResult): string[] {
  if (r.exitCode !== 0 || !r.stdout.trim()) return []
  return (JSON.parse(r.stdout) as { name: string }[]).map((n) => n.name).sort()
}

/** Every command of the probe, one after another: as two batches on hosts that take them (a
 *  lab's own, where the probe runs after the last step: 28 round trips of namespace-routing's
 *  two hosts were half a second), else one exec each. As few programs as give the whole state:
 *  two per namespace, one for the sysctls, two for iptables (under TCG each costs 40-60 ms). */
export async function probeEndState(host: Exec, sysctlKeys: string[], timeoutMs: number, afterEach: (r: ExecResult) => void = () => {}): Promise<RawEndState> {
  // afterEach may throw (a command that hung): the probe stops there.
  const runAll = async (commands: { cmd: string; netns?: string }[]): Promise<ExecResult[]> => {
    const batch = host.execBatch?.(commands.map((c) => ({ ...c, timeoutMs, goOn: 'any' as const })))
    batch?.results.forEach((r) => r.catch(() => undefined)) // awaited below, unless afterEach stops the probe
    const results: ExecResult[] = []
    for (const [i, c] of commands.entries()) {
      // A batch ends at a command that timed out: the rest, if the caller goes on, one by one.
      const ran = await batch?.results[i]
      const r = ran ? { ...ran, command: c.cmd, ...(c.netns ? { netns: c.netns } : {}) } : await host.exec(c.cmd, { timeoutMs, ...(c.netns ? { netns: c.netns } : {}) })
      afterEach(r)
      results.push(r)
    }
    return results
  }
  const [namespaces] = await runAll([{ cmd: 'ip -j netns list' }])
  const names = ['', ...namespaceNames(namespaces!)]
  // One command at a time where there is no batch: a machine reached over SSH gives each command
  // a channel, and sshd allows few at once (MaxSessions); grading's checks run beside this.
  const inNamespace = names.flatMap((ns) => ['ip -j -d addr show', 'ip -j route show'].map((cmd) => ({ cmd, ...(ns ? { netns: ns } : {}) })))
  const rest = await runAll([
    ...inNamespace,
    ...(sysctlKeys.length ? [{ cmd: `sysctl ${sysctlKeys.join(' ')}` }] : []),
    { cmd: 'iptables-save' },
    { cmd: 'iptables -V' },
  ])
  const perNamespace: Record<string, NamespaceProbe> = {}
  names.forEach((ns, i) => (perNamespace[ns] = { addr: rest[2 * i]!, routes: rest[2 * i + 1]! }))
  let next = inNamespace.length
  const sysctls = sysctlKeys.length ? sysctlsFromListing(sysctlKeys, rest[next++]!) : {}
  const iptables = tablesFromSave(rest[next++]!)
  return { namespaces: namespaces!, perNamespace, sysctls, iptables, iptablesVersion: rest[next]! }
}
