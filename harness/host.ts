// The one interface every backend implements. Modelled on the NixOS test driver: few verbs,
// each obvious. Backends implement `run` (and `copyFrom`); the verbs are shared in BaseHost.

export interface ExecOptions {
  /** Run inside this network namespace of the host (`ip netns exec NAME sh -c …`). */
  netns?: string
  /** Kill the command (and its children) after this long; the result says it timed out. */
  timeoutMs?: number
  /** Written to the command's standard input. */
  input?: string
}

export interface ExecResult {
  host: string
  netns?: string
  command: string
  exitCode: number
  stdout: string
  stderr: string
  ms: number
  /** Set when the command was killed for running past its timeout. */
  timedOut?: boolean
  /** What its processes were doing at that moment, one line each (timeout-evidence.ts). */
  atTimeout?: string
}

/** Which exit statuses of a batched command let its batch go on to the next command: exactly
 *  this one, any non-zero one, or any. */
export type ExitGate = number | 'nonzero' | 'any'

/** One command of a batch (Host.execBatch). */
export interface BatchCommand extends ExecOptions {
  cmd: string
  /** The statuses after which the batch runs its next command; any other ends the batch. */
  goOn: ExitGate
}

/** A batch begun: each command's result as it ends, or undefined when it was not run (an
 *  earlier command's status did not let the batch go on, it timed out, or stop() was called). */
export interface ExecBatch {
  results: Promise<ExecResult | undefined>[]
  /** Run none of the commands not yet begun. */
  stop(): Promise<void>
}

/** Kernel features labproof knows how to probe, by trying them. */
export const KERNEL_FEATURES = [
  'veth', 'bridge', 'vxlan', 'macvlan', 'ipvlan', 'ipip', 'gre', 'sit', 'dummy', 'vlan', 'tun', 'nf_nat',
  'cgroup1_freezer', 'timens',
] as const
export type KernelFeature = (typeof KERNEL_FEATURES)[number]

/** The kernel config option a user would enable for each feature, for skip reasons. */
export const KERNEL_CONFIG: Record<KernelFeature, string> = {
  veth: 'CONFIG_VETH', bridge: 'CONFIG_BRIDGE', vxlan: 'CONFIG_VXLAN', macvlan: 'CONFIG_MACVLAN',
  ipvlan: 'CONFIG_IPVLAN', ipip: 'CONFIG_NET_IPIP', gre: 'CONFIG_NET_IPGRE', sit: 'CONFIG_IPV6_SIT',
  dummy: 'CONFIG_DUMMY', vlan: 'CONFIG_VLAN_8021Q', tun: 'CONFIG_TUN', nf_nat: 'CONFIG_NF_NAT',
  cgroup1_freezer: 'CONFIG_CGROUP_FREEZER', timens: 'CONFIG_TIME_NS',
}

/** Features a host can lack with the kernel option set: how a skip names them (the trial's
 *  error follows). A container in its own cgroup namespace may mount an existing cgroup v1
 *  hierarchy but not create one; a kernel booted with cgroup_no_v1 has none. Setting a time
 *  namespace's clock offsets takes CAP_SYS_TIME, which a container is not given: it would let
 *  it set the machine's clock. */
export const FEATURE_NOT_USABLE: Partial<Record<KernelFeature, string>> = {
  cgroup1_freezer: 'cannot mount a cgroup v1 freezer hierarchy and make a cgroup in it',
  timens: 'cannot make a time namespace with a clock offset',
}

export const TOOLS = [
  'ip', 'ping', 'route', 'ifconfig', 'bridge', 'brctl', 'iptables', 'iptables-save', 'iptables-restore',
  'tcpdump', 'sysctl', 'unshare', 'arp', 'modprobe', 'lsmod', 'sudo',
] as const
export type Tool = (typeof TOOLS)[number]

export interface Capabilities {
  host: string
  kernelRelease: string
  distro: string
  /** true when the feature works; otherwise the error the kernel gave when it was tried. */
  features: Record<KernelFeature, true | string>
  tools: Record<Tool, boolean>
  /** What differs between distros: `iproute2-6.1.0`, `iptables v1.8.9 (nf_tables)`. */
  versions: { iproute2: string; iptables: string }
}

export interface Host {
  /** Scenario name of the host: "host01". */
  readonly name: string
  exec(cmd: string, opts?: ExecOptions): Promise<ExecResult>
  /** Several commands one after another, each exactly as exec would run it, in as few round
   *  trips to the host as the backend allows (BaseHost: one, where the host has a shell server). */
  execBatch?(commands: BatchCommand[]): ExecBatch
  succeed(cmd: string, opts?: ExecOptions): Promise<string>
  fail(cmd: string, opts?: ExecOptions): Promise<string>
  waitUntilSucceeds(cmd: string, opts?: ExecOptions & { timeoutMs?: number; intervalMs?: number }): Promise<string>
  copyFrom(remotePath: string, localPath: string): Promise<void>
  capabilities(): Promise<Capabilities>
}

/** Thrown by succeed / fail / waitUntilSucceeds: the message is the whole transcript. */
export class CommandError extends Error {
  constructor(readonly result: ExecResult, expectation: string) {
    super(`${expectation}\n${formatResult(result)}`)
    this.name = 'CommandError'
  }
}

/** `succeed`'s verdict on a result: its stdout, or a CommandError with the transcript. */
export function requireSuccess(r: ExecResult): string {
  if (r.exitCode !== 0) throw new CommandError(r, `expected the command to succeed on ${r.host}, it exited ${r.exitCode}`)
  return r.stdout
}

/** `fail`'s verdict on a result: its output, or a CommandError when it succeeded. */
export function requireFailure(r: ExecResult): string {
  if (r.exitCode === 0) throw new CommandError(r, `expected the command to fail on ${r.host}, it succeeded`)
  return r.stdout + r.stderr
}

export function formatResult(r: ExecResult): string {
  const where = r.netns ? `${r.host}/${r.netns}` : r.host
  const lines = [`$ [${where}] ${r.command}`, `exit ${r.exitCode}${r.timedOut ? ' (killed: timed out)' : ''} after ${r.ms} ms`]
  if (r.stdout.trim()) lines.push('stdout:', indent(r.stdout))
  if (r.stderr.trim()) lines.push('stderr:', indent(r.stderr))
  if (r.atTimeout) lines.push('at the timeout:', indent(r.atTimeout))
  return lines.join('\n')
}

function indent(text: string): string {
  return text.replace(/\s+$/, '').split('\n').map((l) => `  ${l}`).join('\n')
}

/** Quote a string for POSIX sh. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}
