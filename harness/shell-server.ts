// A long-lived shell inside a host that runs the host's commands, so each command costs one
// fork in the host instead of starting `nsenter` (or `docker exec`) and a shell from here: about
// 0.5 ms a command instead of 3.5 on the netns backend.
//
// The shell reads one line per request on its stdin and answers on its stdout. A command's
// script, input, output and errors are files in a directory of the host, which this machine
// reaches directly (`/proc/PID/root/…` of a process inside the host): output is never a pipe a
// background job of the command could hold open, so a command is done when its shell exits.
// Each command runs under setsid, in a process group of its own, as a command run by
// runProcess does: a timeout kills the whole group and keeps the output so far.
import { spawn } from 'node:child_process'
import { access, readFile, rm, writeFile } from 'node:fs/promises'
import { createInterface, type Interface } from 'node:readline'
import type { ProcessResult } from './local-process.ts'

/** Inside the host: the directory of the command files. */
export const SHELL_DIR = '/run/labproof-exec'

/** The server. `run ID`: run ID.sh with ID.in as stdin (`run0 ID`: with none), answer
 *  `pid ID PGID` at once and `end ID STATUS` when it exits. `kill PGID`: SIGKILL that process group. Requests are read
 *  while commands run, so commands may run side by side. */
export const SERVER_SCRIPT = [
  `d=${SHELL_DIR}`,
  'command -v setsid >/dev/null || { echo "no setsid in this host"; exit 1; }',
  // The node made the directory (namespace-node.ts): no `mkdir` to start then.
  '{ [ -d "$d" ] || mkdir -p "$d"; } && echo ready || exit 1',
  'go() { setsid sh "$d/$1.sh" <"$2" >"$d/$1.out" 2>"$d/$1.err" & echo "pid $1 $!"; wait $!; echo "end $1 $?"; }',
  'while read -r op arg; do',
  '  case $op in',
  '    run) go "$arg" "$d/$arg.in" & ;;',
  '    run0) go "$arg" /dev/null & ;;',
  '    kill) kill -KILL "-$arg" 2>/dev/null ;;',
  '  esac',
  'done',
].join('\n')

/** How long after a timeout's SIGKILL the command's end is awaited before giving up on it. */
const KILL_GRACE_MS = 5_000

interface Pending {
  pgid?: number
  killed?: boolean
  end: (status: number) => void
}

/** How requests reach the server and answers come back: a local process's pipes, or an exec
 *  stream of a container engine. */
export interface ShellTransport {
  stdin: NodeJS.WritableStream
  /** The server's standard output alone. */
  stdout: NodeJS.ReadableStream
  /** Settles when the server is gone. */
  exited: Promise<void>
  /** The server's standard error so far, to explain a failed start. */
  stderr(): string
}

export class ShellServer {
  private readonly pending = new Map<string, Pending>()
  private next = 0
  private exited = false

  private constructor(
    private readonly transport: ShellTransport,
    lines: Interface,
    /** SHELL_DIR as this machine sees it. */
    private readonly localDir: string,
    readonly name: string,
  ) {
    lines.on('line', (line) => this.answer(line))
    void transport.exited.then(() => {
      this.exited = true
      // The host is gone (its namespaces were torn down): so are its commands.
      for (const p of this.pending.values()) p.end(137)
      this.pending.clear()
    })
  }

  /** Start a server on `transport` (which runs SERVER_SCRIPT with sh inside the host) and wait
   *  until it is ready and its directory is reachable from here at `localDir`. */
  static async start(transport: ShellTransport, localDir: string, name: string): Promise<ShellServer> {
    const fail = (why: string) => new Error(`could not start a shell in ${name}: ${why}${transport.stderr() ? `: ${transport.stderr().trim()}` : ''}`)
    const lines = createInterface({ input: transport.stdout })
    const first = await new Promise<string>((resolve, reject) => {
      void transport.exited.then(() => reject(fail('it exited before it was ready')))
      lines.once('line', resolve)
    })
    if (first !== 'ready') throw fail(`it said ${JSON.stringify(first)}`)
    const server = new ShellServer(transport, lines, localDir, name)
    // The files must be reachable from here (a local engine, this machine's /proc).
    if (!(await access(localDir).then(() => true, () => false))) {
      server.close()
      throw fail(`${localDir} is not reachable from this machine`)
    }
    return server
  }

  /** Settles when the server has exited (its host torn down, or close()). */
  get done(): Promise<void> {
    return this.transport.exited
  }

  get alive(): boolean {
    return !this.exited
  }

  async run(script: string, opts: { timeoutMs: number; input?: string }): Promise<ProcessResult> {
    const started = performance.now()
    const id = `${process.pid}-${this.next++}`
    const file = (ext: string) => `${this.localDir}/${id}.${ext}`
    const files = opts.input !== undefined ? ['sh', 'in', 'out', 'err'] : ['sh', 'out', 'err']
    await Promise.all([writeFile(file('sh'), script), opts.input !== undefined && writeFile(file('in'), opts.input)])
    let timedOut = false
    const status = await new Promise<number>((resolve) => {
      const p: Pending = { end: resolve }
      this.pending.set(id, p)
      const timer = setTimeout(() => {
        timedOut = true
        this.kill(p)
        // A command that cannot be killed (the host wedged) still ends the step.
        setTimeout(() => this.pending.get(id) === p && (this.pending.delete(id), resolve(137)), KILL_GRACE_MS).unref()
      }, opts.timeoutMs)
      p.end = (s) => {
        clearTimeout(timer)
        resolve(s)
      }
      if (this.exited) return p.end(137)
      this.transport.stdin.write(`${opts.input !== undefined ? 'run' : 'run0'} ${id}\n`)
    })
    const [stdout, stderr] = await Promise.all([readFile(file('out'), 'utf8').catch(() => ''), readFile(file('err'), 'utf8').catch(() => '')])
    // Removed behind the result: nothing waits on it, and the next command has its own files.
    for (const ext of files) void rm(file(ext), { force: true }).catch(() => undefined)
    const gone = status === 137 && this.exited && !timedOut ? `${this.name} is gone: its shell exited while the command ran\n` : ''
    return {
      exitCode: timedOut ? 124 : status,
      stdout,
      stderr: stderr + gone,
      ms: Math.round(performance.now() - started),
      ...(timedOut ? { timedOut } : {}),
    }
  }

  /** End the server (its host may live on); commands still running are left to the host. */
  close(): void {
    this.transport.stdin.end()
  }

  private answer(line: string): void {
    const [what, id, value] = line.split(' ')
    const p = this.pending.get(id!)
    if (!p) return
    if (what === 'pid') {
      p.pgid = Number(value)
      if (p.killed) this.kill(p)
    } else if (what === 'end') {
      this.pending.delete(id!)
      p.end(Number(value))
    }
  }

  private kill(p: Pending): void {
    p.killed = true
    if (p.pgid && !this.exited) this.transport.stdin.write(`kill ${p.pgid}\n`)
  }
}

/** A server run by a local program (`nsenter … sh -c SERVER_SCRIPT`). */
export function spawnTransport(command: string, args: string[]): ShellTransport {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  child.stdin.on('error', () => {})
  const stderr: string[] = []
  child.stderr.on('data', (d) => stderr.push(String(d)))
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve())
    child.once('error', (e) => {
      stderr.push(e.message)
      resolve()
    })
  })
  return { stdin: child.stdin, stdout: child.stdout, exited, stderr: () => stderr.join('') }
}

/** A host's shell server, started by its first command and again if it has died since. When it
 *  cannot start at all (no setsid, files out of reach), it is not tried again: the host runs its
 *  commands its own slower way. */
export class HostShell {
  private current: Promise<ShellServer | undefined> | undefined

  constructor(private readonly start: () => Promise<ShellServer>) {}

  async server(): Promise<ShellServer | undefined> {
    const pending = this.current
    if (pending) {
      const server = await pending
      if (!server || server.alive) return server // could not start, or running
      if (this.current !== pending) return this.server() // another command is restarting it
    }
    this.current = this.start().catch(() => undefined)
    return this.current
  }

  /** Settles once the server, if one was started, has exited. */
  async gone(): Promise<void> {
    await (await this.current)?.done
  }
}
