// A namespace node: one process in its own network, mount, UTS and PID namespaces, on a root
// file system of its own (netns-root.ts: an overlay of the machine's, thrown away with the node).
// The netns backend makes every node of a lab this way; the VM backends make their gateway and
// internet host this way.
//
// Lifetime: each node is `setpriv --pdeathsig KILL unshare --kill-child …`. If labproof dies,
// even by SIGKILL, the kernel kills the node, whose PID namespace takes every process started
// inside with it; the namespaces and their interfaces go when their last process does.
import { copyFile, readFile } from 'node:fs/promises'
import { spawn, type ChildProcess } from 'node:child_process'
import { BaseHost } from '../../base-host.ts'
import { runProcess } from '../../local-process.ts'
import { dropCapabilities, nodeInitScript } from './netns-root.ts'
import { HostShell, SERVER_SCRIPT, SHELL_DIR, ShellServer, spawnTransport } from '../../shell-server.ts'
import type { Capabilities } from '../../host.ts'
import { probeCapabilities } from '../../capabilities.ts'
import { ownerTag } from '../../ownership/owner.ts'

/** Every node's command line carries `labproof-netns:<lab id>:<owner tag>:<hostname>`, which
 *  `labproof clean` looks for. */
export const NETNS_MARKER = 'labproof-netns'

const NODE_INIT = nodeInitScript()

export class NetnsHost extends BaseHost {
  constructor(name: string, private readonly node: NodeProcess) {
    super(name)
  }

  private readonly shell = new HostShell(() => ShellServer.start(
    spawnTransport('nsenter', [...this.enter(), ...dropCapabilities(), 'sh', '-c', SERVER_SCRIPT]), `/proc/${this.node.innerPid}/root${SHELL_DIR}`, this.name))

  protected async runShell(script: string, opts: { timeoutMs: number; input?: string }) {
    const shell = await this.shell.server()
    // Without its shell (the node is gone), nsenter says why the command cannot run.
    return shell ? shell.run(script, opts) : runProcess('nsenter', [...this.enter(), ...dropCapabilities(), 'sh', '-c', script], opts)
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
}

export async function startNode(labId: string, hostname: string): Promise<NodeProcess> {
  const child = spawn(
    'setpriv',
    ['--pdeathsig', 'KILL', '--', 'unshare', '--kill-child=SIGKILL', '--net', '--mount', '--uts', '--pid', '--fork',
      '--propagation', 'private', 'sh', '-c', NODE_INIT, `${NETNS_MARKER}:${labId}:${ownerTag()}:${hostname}`, hostname],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const output: string[] = []
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string) => reject(new Error(
      `could not start a network-namespace host (${hostname}): ${why}\n${output.join('')}` +
      '\nThe netns backend needs Linux, root (CAP_SYS_ADMIN) and util-linux (unshare, nsenter, setpriv).',
    ))
    child.on('error', (e) => fail(e.message))
    child.on('exit', (code, signal) => fail(`exited ${code ?? signal} before it was ready`))
    child.stderr!.on('data', (d) => output.push(String(d)))
    child.stdout!.on('data', (d) => {
      output.push(String(d))
      if (output.join('').includes('ready')) resolve()
    })
  })
  child.removeAllListeners('exit')
  child.stdout!.resume()
  return { child, innerPid: await childPid(child.pid!) }
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

/** Root, util-linux and iproute2 on this machine: what every netns node is made with. */
export async function namespaceNodePreflight(backend: string, needsRoot = `the ${backend} backend needs root: run labproof as root (sudo)`): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error(needsRoot)
  const r = await runProcess('sh', ['-c', 'for t in unshare nsenter setpriv ip; do command -v "$t" >/dev/null || echo "$t"; done'], { timeoutMs: 5_000 })
  const missing = r.stdout.trim().split(/\s+/).filter(Boolean)
  if (missing.length) {
    throw new Error(`the ${backend} backend needs ${missing.join(', ')} on this machine: apt-get install util-linux iproute2 (or run ci/setup.sh)`)
  }
}

