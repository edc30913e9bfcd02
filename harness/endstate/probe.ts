// Reading a machine's end state: the read-only commands, run in the root namespace and in each
// network namespace, and what came back, unparsed. The same probe reads the lab's hosts when
// `labproof run` records the reference, and a student's machine when it is graded.
import type { ExecOptions, ExecResult } from '../host.ts'

/** The iptables tables an end state covers. */
export const IPTABLES_TABLES = ['filter', 'nat', 'mangle', 'raw'] as const

/** Every command the probe sends, for the grading allowlist (harness/grade/read-only-host.ts). */
export const END_STATE_PROBES: RegExp[] = [
  /^ip -j netns list$/,
  /^ip -j -d addr show$/,
  /^ip -j route show$/,
  /^bridge -j link show$/,
  /^sysctl -n [\w.-]+$/,
  /^iptables -t (?:filter|nat|mangle|raw) -S$/,
  /^iptables -V$/,
]

export interface NamespaceProbe {
  /** `ip -j -d addr show`: links with their kind, master, peer index and addresses. */
  addr: ExecResult
  routes: ExecResult
  bridge: ExecResult
}

export interface RawEndState {
  namespaces: ExecResult
  /** '' is the root namespace. */
  perNamespace: Record<string, NamespaceProbe>
  sysctls: Record<string, ExecResult>
  iptables: Record<string, ExecResult>
  iptablesVersion: ExecResult
}

export interface Exec {
  exec(cmd: string, opts?: ExecOptions): Promise<ExecResult>
}

/** Namespace names from `ip -j netns list` (empty output when there are none). */
export function namespaceNames(r: ExecResult): string[] {
  if (r.exitCode !== 0 || !r.stdout.trim()) return []
  return (JSON.parse(r.stdout) as { name: string }[]).map((n) => n.name).sort()
}

/** Every command of the probe, one after another. */
export async function probeEndState(host: Exec, sysctlKeys: string[], timeoutMs: number, afterEach: (r: ExecResult) => void = () => {}): Promise<RawEndState> {
  // afterEach may throw (a command that hung): the probe stops there.
  const run = async (cmd: string, netns?: string) => {
    const r = await host.exec(cmd, { timeoutMs, ...(netns ? { netns } : {}) })
    afterEach(r)
    return r
  }
  const namespaces = await run('ip -j netns list')
  const names = ['', ...namespaceNames(namespaces)]
  const perNamespace: Record<string, NamespaceProbe> = {}
  // One command at a time: a machine reached over SSH gives each command a channel, and
  // sshd allows few at once (MaxSessions); grading's checks run beside this.
  for (const ns of names) {
    const netns = ns || undefined
    perNamespace[ns] = { addr: await run('ip -j -d addr show', netns), routes: await run('ip -j route show', netns), bridge: await run('bridge -j link show', netns) }
  }
  const sysctls: Record<string, ExecResult> = {}
  for (const key of sysctlKeys) sysctls[key] = await run(`sysctl -n ${key}`)
  const iptables: Record<string, ExecResult> = {}
  for (const table of IPTABLES_TABLES) iptables[table] = await run(`iptables -t ${table} -S`)
  const iptablesVersion = await run('iptables -V')
  return { namespaces, perNamespace, sysctls, iptables, iptablesVersion }
}
