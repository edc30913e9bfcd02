// A namespace node: one process in its own network, mount, UTS and PID namespaces, on a root
// file system of its own (netns-root.ts: an overlay of the machine's, thrown away with the node).
// The netns backend makes every node of a lab this way; the VM backends make their gateway and
// internet host this way.
//
// One program per node (netns-root.ts nodeInitProgram, run by perl) makes the namespaces and the
// root and starts the node's shell server (harness/shell-server.ts) on its standard input and
// output, so a node is ready for commands without a later `nsenter` + `setpriv` + `sh`.
//
// Lifetime: the node's process dies with labproof (PR_SET_PDEATHSIG), and the node's PID 1 with
// it. If labproof dies, even by SIGKILL, the kernel kills the node, whose PID namespace takes every
// process started inside with it; the namespaces and their interfaces go when their last process
// does.
import { accessSync, constants } from 'node:fs'
import { copyFile, readFile } from 'node:fs/promises'
import { spawn, type ChildProcess } from 'node:child_process'
import type { Readable } from 'node:stream'
import { BaseHost } from '../../base-host.ts'
import { runProcess } from '../../local-process.ts'
import { architectureProblem, dropCapabilities, nodeInitProgram } from './netns-root.ts'
import { HostShell, SERVER_SCRIPT, SHELL_DIR, ShellServer, spawnTransport, type ShellTransport } from '../../shell-server.ts'
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
    const shell = await this.shell.server()
    // Without its shell (the node is gone), nsenter says why the command cannot run.
    return shell ? shell.run(script, opts) : runProcess(toolPath('nsenter'), [...this.enter(), ...dropCapabilities(toolPath('setpriv')), '/bin/sh', '-c', script], opts)
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
  child: ChildProcess
  innerPid: number
  /** The shell server the node started, for the first to take it (then undefined). */
  takeShell(): ShellTransport | undefined
}

export interface NodeOptions {
  /** `net.ipv4.ip_forward` in the node (a new network namespace copies the machine's). */
  ipForward?: 0 | 1
}

const programs = new Map<string, string>()

/** The node's program, made once per process for each option set. */
function program(opts: NodeOptions): string {
  const key = String(opts.ipForward)
  let p = programs.get(key)
  if (!p) programs.set(key, p = nodeInitProgram({ ipForward: opts.ipForward, runDir: SHELL_DIR, shell: SERVER_SCRIPT }))
  return p
}

export async function startNode(labId: string, hostname: string, opts: NodeOptions = {}): Promise<NodeProcess> {
  const requirements = '\nThe netns backend needs Linux, root (CAP_SYS_ADMIN), perl and util-linux (nsenter, setpriv).'
  const arch = architectureProblem()
  if (arch) throw new Error(`could not start a network-namespace host (${hostname}): ${arch}`)
  const child = spawn(toolPath('perl'), ['-e', program(opts), `${NETNS_MARKER}:${labId}:${ownerTag()}:${hostname}`, hostname, String(process.pid)],
    { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] })
  const stderr: string[] = []
  child.stderr!.on('data', (d) => stderr.length < 100 && stderr.push(String(d)))
  child.stdin!.on('error', () => {})
  const ready = child.stdio[3] as Readable
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string) => reject(new Error(`could not start a network-namespace host (${hostname}): ${why}\n${stderr.join('')}${requirements}`))
    child.on('error', (e) => fail(e.message))
    child.on('exit', (code, signal) => fail(`exited ${code ?? signal} before it was ready`))
    let said = ''
    ready.on('data', (d) => {
      said += String(d)
      if (said.includes('ready')) resolve()
    })
  })
  child.removeAllListeners('exit')
  ready.removeAllListeners('data')
  ready.resume()
  // The shell's standard output closes when it exits: only it holds that pipe in the node.
  const exited = new Promise<void>((resolve) => {
    child.stdout!.once('close', () => resolve())
    child.once('error', () => resolve())
  })
  let shell: ShellTransport | undefined = { stdin: child.stdin!, stdout: child.stdout!, exited, stderr: () => stderr.join('') }
  return {
    child,
    innerPid: await childPid(child.pid!),
    takeShell: () => {
      const taken = shell
      shell = undefined
      return taken
    },
  }
}

/** The PID (as seen from here) of the node's first process, inside its namespaces. */
async function childPid(pid: number): Promise<number> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/)
  const first = Number(children[0])
  if (!first) throw new Error(`the namespace host process ${pid} has no child`)
  return first
}

export function killNode(node: NodeProcess): Promise<void> {
  return new Promise((resolve) => {
    if (node.child.exitCode !== null || node.child.signalCode !== null) return resolve()
    node.child.once('exit', () => resolve())
    node.child.kill('SIGKILL')
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
