// A namespace node: one process in its own network, mount, UTS and PID namespaces, on a root
// file system of its own (netns-root.ts: an overlay of the machine's, thrown away with the node).
// The netns backend makes every node of a lab this way; the VM backends make their gateway and
// internet host this way.
//
// One program for all the nodes of a lab (netns-root.ts nodesProgram, run by one perl: one
// process start for the lab, not one per node) makes each node's namespaces and root, sends the
// lab's wiring as netlink requests meanwhile, and starts each node's shell server
// (harness/shell-server.ts) on a pair of sockets, so a node is ready for commands without a later
// `nsenter` + `setpriv` + `sh`.
//
// Lifetime: the group's process dies with labproof (PR_SET_PDEATHSIG), each node's process with
// it, and each node's PID 1 with that. If labproof dies, even by SIGKILL, the kernel kills the
// nodes, whose PID namespaces take every process started inside with them; the namespaces and
// their interfaces go when their last process does.
import { accessSync, constants } from 'node:fs'
import { copyFile } from 'node:fs/promises'
import { spawn, type ChildProcess } from 'node:child_process'
import type { Socket } from 'node:net'
import type { Readable } from 'node:stream'
import { BaseHost } from '../../base-host.ts'
import { runProcess } from '../../local-process.ts'
import { architectureProblem, dropCapabilities, nodesProgram, REPORT_FD, shellFds, type NodeSpec, type WiringRequest } from './netns-root.ts'
import { HostShell, SERVER_SCRIPT, SHELL_DIR, ShellServer, type BatchItem, spawnTransport, type ShellTransport } from '../../shell-server.ts'
import type { Capabilities } from '../../host.ts'
import { probeCapabilities } from '../../capabilities.ts'
import { ownerTag } from '../../ownership/owner.ts'

/** Every node's command line carries `labproof-netns:<lab id>:<owner tag>:<hostname>`, which
 *  `labproof clean` looks for. */
export const NETNS_MARKER = 'labproof-netns'

/** The programs of this machine a node is made and entered with. */
const TOOLS = ['perl', 'nsenter', 'setpriv', 'ip'] as const
type Tool = (typeof TOOLS)[number]
const toolPaths = new Map<Tool, string | undefined>()

/** A tool's absolute path, looked up in PATH once (and in the usual folders): a bare name would be
 *  looked for at every start, through every folder before it in PATH. */
export function toolPath(name: Tool): string {
  return findTool(name) ?? name
}

function findTool(name: Tool): string | undefined {
  if (!toolPaths.has(name)) {
    const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d.startsWith('/')), '/usr/bin', '/usr/sbin', '/bin', '/sbin']
    toolPaths.set(name, dirs.map((d) => `${d}/${name}`).find((f) => {
      try {
        accessSync(f, constants.X_OK)
        return true
      } catch {
        return false
      }
    }))
  }
  return toolPaths.get(name)
}

export class NetnsHost extends BaseHost {
  constructor(name: string, private readonly node: NodeProcess) {
    super(name)
  }

  /** The shell the node started with it, then (if that one dies) one entered from here. */
  private readonly shell = new HostShell(() => ShellServer.start(
    this.node.takeShell() ?? spawnTransport(toolPath('nsenter'), [...this.enter(), ...dropCapabilities(toolPath('setpriv')), '/bin/sh', '-c', SERVER_SCRIPT]),
    `/proc/${this.node.innerPid}/root${SHELL_DIR}`, this.name))

  protected async runShell(script: string, opts: { timeoutMs: number; input?: string }) {
    // Without its shell (the node is gone), nsenter says why the command cannot run.
    return (await this.shell.run(script, opts)) ?? runProcess(toolPath('nsenter'), [...this.enter(), ...dropCapabilities(toolPath('setpriv')), '/bin/sh', '-c', script], opts)
  }

  protected override async runShellBatch(items: BatchItem[]) {
    return (await this.shell.server())?.runBatch(items)
  }

  /** Settles once the node's shell, if it has one, has exited: after the node is killed. */
  shellGone(): Promise<void> {
    return this.shell.gone()
  }

  /** Entering the mount namespace sets the root and working directory to the node's own `/`
   *  (no --wd: it would open a directory of the machine's tree and keep it as the cwd). */
  private enter(): string[] {
    return ['-t', String(this.node.innerPid), '-n', '-m', '-u', '-p', '--']
  }

  /** Every netns host of every lab runs this machine's kernel on this machine's file system:
   *  one probe answers for all of them, each under its own name. */
  override capabilities(): Promise<Capabilities> {
    machineProbe ??= probeCapabilities(this).then((caps) => {
      // A probe cut short (its lab torn down meanwhile) answers for its own host only.
      if (caps.kernelRelease === 'unknown' || Object.values(caps.features).some((f) => typeof f === 'string' && f.startsWith('not probed'))) machineProbe = undefined
      return caps
    }, (e: unknown) => {
      machineProbe = undefined
      throw e
    })
    return machineProbe.then((caps) => ({ ...caps, host: this.name }))
  }

  async copyFrom(remotePath: string, localPath: string): Promise<void> {
    // The node has a root of its own (netns-root.ts): read the file through its view of the tree.
    await copyFile(`/proc/${this.node.innerPid}/root${remotePath}`, localPath)
  }
}

let machineProbe: Promise<Capabilities> | undefined

export interface NodeProcess {
  /** The process that made the node (and the others made with it): killing it kills them all. */
  child: ChildProcess
  innerPid: number
  /** The shell server the node started, for the first to take it (then undefined). */
  takeShell(): ShellTransport | undefined
}

export interface NodeOptions {
  /** `net.ipv4.ip_forward` in the node (a new network namespace copies the machine's). */
  ipForward?: 0 | 1
}

/** Nodes made together by one process (netns-root.ts nodesProgram). */
export interface NodeGroup {
  nodes: Map<string, NodeProcess>
  /** Kills the group's process, and with it every node (their PID 1s die with it). */
  kill(): Promise<void>
}

const requirements = '\nThe netns backend needs Linux, root (CAP_SYS_ADMIN), perl and util-linux (nsenter, setpriv).'

/**
 * Makes `specs` as nodes of lab `labId`, all at once by one process, and runs `wiring` in them
 * as soon as each has its network namespace (while their roots are still being made). Resolves
 * when every node is ready for commands and the wiring is done; on an error nothing is left.
 */
export async function startNodes(labId: string, specs: NodeSpec[], wiring: WiringRequest[] = []): Promise<NodeGroup> {
  const what = specs.length === 1 ? `a network-namespace host (${specs[0]!.hostname})` : `the network-namespace hosts (${specs.map((s) => s.hostname).join(', ')})`
  const arch = architectureProblem()
  if (arch) throw new Error(`could not start ${what}: ${arch}`)
  const program = nodesProgram(specs, { runDir: SHELL_DIR, shell: SERVER_SCRIPT, wiring })
  const marker = `${NETNS_MARKER}:${labId}:${ownerTag()}:${specs.map((s) => s.hostname).join(',')}`
  const child = spawn(toolPath('perl'), ['-e', program, marker, String(process.pid)],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', ...specs.flatMap(() => ['pipe', 'pipe'] as const)] })
  const stderr: string[] = []
  child.stderr!.on('data', (d) => stderr.length < 100 && stderr.push(String(d)))
  const report = child.stdio[REPORT_FD] as Readable
  const inner = new Map<string, number>()
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) => reject(new Error(`could not start ${what}: ${why}\n${stderr.join('')}${requirements}`))
      child.on('error', (e) => fail(e.message))
      child.on('exit', (code, signal) => fail(`exited ${code ?? signal} before it was ready`))
      let said = ''
      report.on('data', (d) => {
        said += String(d)
        for (const [, name, pid] of said.matchAll(/^node (\S+) (\d+)$/gm)) inner.set(name!, Number(pid))
        if (/^ready$/m.test(said)) resolve()
      })
    })
  } catch (e) {
    await killGroup(child)
    throw e
  }
  child.removeAllListeners('exit')
  report.removeAllListeners('data')
  report.resume()
  const nodes = new Map<string, NodeProcess>()
  specs.forEach((spec, i) => {
    const [stdin, stdout] = shellFds(i).map((fd) => child.stdio[fd] as Socket) as [Socket, Socket]
    stdin.on('error', () => {}) // the shell may exit without reading
    // Its output closes when the node's shell exits: only the shell holds the other end.
    const exited = new Promise<void>((resolve) => {
      stdout.once('close', () => resolve())
      child.once('error', () => resolve())
    })
    let shell: ShellTransport | undefined = { stdin, stdout, exited, stderr: () => stderr.join('') }
    const innerPid = inner.get(spec.name)
    if (!innerPid) throw new Error(`could not start ${what}: no PID for ${spec.name} in its report`)
    nodes.set(spec.name, {
      child,
      innerPid,
      takeShell: () => {
        const taken = shell
        shell = undefined
        return taken
      },
    })
  })
  return { nodes, kill: () => killGroup(child) }
}

/** One node, made as a group of one. */
export async function startNode(labId: string, hostname: string, opts: NodeOptions = {}): Promise<NodeProcess> {
  return (await startNodes(labId, [{ name: hostname, hostname, ipForward: opts.ipForward }])).nodes.get(hostname)!
}

/** Kills the node, with every node its process made. */
export function killNode(node: NodeProcess): Promise<void> {
  return killGroup(node.child)
}

function killGroup(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGKILL')
  })
}

/** Root, perl, util-linux and iproute2 on this machine: what every netns node is made with. */
export async function namespaceNodePreflight(backend: string, needsRoot = `the ${backend} backend needs root: run labproof as root (sudo)`): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error(needsRoot)
  const arch = architectureProblem()
  if (arch) throw new Error(arch)
  const missing = TOOLS.filter((t) => !findTool(t))
  if (missing.length) {
    throw new Error(`the ${backend} backend needs ${missing.join(', ')} on this machine: apt-get install perl-base util-linux iproute2 (or run ci/setup.sh)`)
  }
}
