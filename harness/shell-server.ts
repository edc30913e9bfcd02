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
//
// A batch (runBatch) is several commands in one request: a script of this side's making runs
// them one after another in the host, each as `sh FILE` with its own input, output and error
// files as a single command has, and goes on to the next only while each exit status is one its
// caller said lets the batch go on. It saves this side's round trip per command, and a `setsid`
// and a subshell per command in the host: the batch is one process group, so a command that
// times out is killed with the rest of its batch, which is where a batch ends anyway.
import { spawn } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { access } from 'node:fs/promises'
import { createInterface, type Interface } from 'node:readline'
import type { ExitGate } from './host.ts'
import type { ProcessResult } from './local-process.ts'
import { describeSnapshots, snapshotProcessGroup } from './timeout-evidence.ts'

/** Inside the host: the directory of the command files. */
export const SHELL_DIR = '/run/labproof-exec'

/** The server. `run ID`: run ID.sh with ID.in as stdin (`run0 ID`: with none), answer `got ID`
 *  before it starts anything, `pid ID PGID` once it has, and `end ID STATUS` when it exits. `batch ID`: run ID.sh as `run0`
 *  does, with the server's answers on its fd 3 (a batch's `start`/`end` lines of its own
 *  commands). `kill PGID`: SIGKILL that process group. Requests are read while commands run, so
 *  commands may run side by side. This one is sh alone, for hosts without perl (SERVER_SCRIPT). */
export const SH_SERVER_SCRIPT = [
  `d=${SHELL_DIR}`,
  'command -v setsid >/dev/null || { echo "no setsid in this host"; exit 1; }',
  // The node made the directory (namespace-node.ts): no `mkdir` to start then.
  '{ [ -d "$d" ] || mkdir -p "$d"; } && echo ready || exit 1',
  // `end ID STATUS gone` when the server itself was killed meanwhile (a command may kill it): the
  // next command must not be sent to it.
  // Killed, it may not have run since (SIGKILL pending: bit 256 of /proc/PID/stat's field 31) or
  // be a zombie for a while, which `kill -0` still finds. Without a /proc, no such answer.
  '[ -r /proc/$$/stat ] && p=/proc/$$/stat || p=',
  `ended() { g=; if [ -n "$p" ]; then { read -r _ _ st ${'_ '.repeat(27)}sig _ <"$p"; } 2>/dev/null || st=X; case $st in Z|X) g=1 ;; *) [ $((sig & 256)) = 0 ] || g=1 ;; esac; fi; echo "end $1 $2\${g:+ gone}"; }`,
  'go() { setsid sh "$d/$1.sh" <"$2" >"$d/$1.out" 2>"$d/$1.err" & echo "pid $1 $!"; wait $!; ended "$1" $?; }',
  'gob() { setsid sh "$d/$1.sh" 3>&1 </dev/null >"$d/$1.out" 2>"$d/$1.err" & echo "pid $1 $!"; wait $!; ended "$1" $?; }',
  'while read -r op arg; do',
  '  case $op in',
  '    run) echo "got $arg"; go "$arg" "$d/$arg.in" & ;;',
  '    run0) echo "got $arg"; go "$arg" /dev/null & ;;',
  '    batch) gob "$arg" & ;;',
  '    kill) kill -KILL "-$arg" 2>/dev/null ;;',
  '  esac',
  'done',
].join('\n')

/** The same server in Perl (perl-base is on every Debian/Ubuntu host, and the netns nodes are
 *  made by Perl): the server itself forks each command, gives it a process group of its own and
 *  execs `sh ID.sh`, and reaps it: one fork and one exec a command, where sh forks a subshell
 *  to wait for it, forks the background job and execs setsid before sh (a fork or an exec costs
 *  several ms on a loaded machine; no module is loaded, so the server stays small to fork).
 *  Everything else is as SH_SERVER_SCRIPT: the same requests and answers, files, process group,
 *  and signals (a command starts with SIGINT and SIGQUIT ignored, as sh starts a background
 *  job). A command that kills the server gets no `end`: the server's output closes and the
 *  host's commands end with it, as when the sh server dies. No single quote in it: it goes
 *  inside one in SERVER_SCRIPT. */
const PERL_SERVER = [
  'use strict;',
  `my $d = "${SHELL_DIR}";`,
  '-d $d or mkdir $d or do { print "cannot make $d: $!\\n"; exit 1 };',
  '$| = 1; print "ready\\n";',
  // A child that ends wakes the loop through a pipe (no end is missed between the check and
  // the wait).
  'pipe(my $wake_r, my $wake_w) or die; my %kids; my $in = "";',
  '$SIG{CHLD} = sub { syswrite $wake_w, "x" };',
  'sub start { my ($op, $id) = @_; print "got $id\\n"; my $pid = fork;',
  '  if (!defined $pid) { print "end $id 126\\n"; return }',
  '  if ($pid == 0) {',
  '    setpgrp(0, 0); $SIG{CHLD} = "DEFAULT"; $SIG{INT} = $SIG{QUIT} = "IGNORE";',
  // A batch writes its answers on fd 3: the server's output (sh makes it, once per batch).
  '    exec { "sh" } "sh", "-c", "exec 3>&1 </dev/null >\\"\\$0.out\\" 2>\\"\\$0.err\\"; exec sh \\"\\$0.sh\\"", "$d/$id" if $op eq "batch";',
  '    open(STDIN, "<", $op eq "run" ? "$d/$id.in" : "/dev/null") or exit 2;',
  '    open(STDOUT, ">", "$d/$id.out") or exit 2; open(STDERR, ">", "$d/$id.err") or exit 2;',
  '    exec { "sh" } "sh", "$d/$id.sh"; exit 127 }',
  '  $kids{$pid} = $id; print "pid $id $pid\\n" }',
  'sub reap { while ((my $pid = waitpid(-1, 1)) > 0) { my $id = delete $kids{$pid};',
  '  print "end $id ", ($? & 127 ? 128 + ($? & 127) : $? >> 8), "\\n" if defined $id } }',
  'for (;;) { my $rin = ""; vec($rin, 0, 1) = 1; vec($rin, fileno($wake_r), 1) = 1;',
  // Perl runs a signal's handler between its own steps, not in the signal: a SIGCHLD that comes
  // after the last step and before select blocks writes nothing to the pipe until select
  // returns. So while commands run, select returns every 0.1 s and the loop reaps anyway.
  '  my $n = select(my $rout = $rin, undef, undef, %kids ? 0.1 : undef);',
  '  if ($n < 0) { next if $!{EINTR}; last }',
  '  sysread $wake_r, my $x, 512 if vec($rout, fileno($wake_r), 1);',
  '  reap() if %kids;',
  '  if (vec($rout, 0, 1)) { my $r = sysread STDIN, $in, 4096, length $in; last unless $r;',
  '    while ($in =~ s/^([^\\n]*)\\n//) { my ($op, $arg) = split / /, $1, 2;',
  '      if ($op eq "kill") { kill "KILL", -$arg } elsif ($op =~ /^(run0?|batch)$/) { start($op, $arg) } } } }',
].join('\n')

/** The server a host runs: Perl's where the host has perl, else sh's. */
export const SERVER_SCRIPT = `command -v perl >/dev/null 2>&1 && exec perl -e '${PERL_SERVER}'\n${SH_SERVER_SCRIPT}`

export interface BatchItem {
  script: string
  input?: string
  timeoutMs: number
  gate: ExitGate
}

/** A batch begun: each command's result as it ends (undefined: not run, because an earlier one
 *  did not pass its gate, timed out, or the batch was stopped). */
export interface BatchRun {
  results: Promise<ProcessResult | undefined>[]
  /** Run none of its commands not yet begun (one running finishes). */
  stop(): Promise<void>
}

/** Shell words that are no program: a batch runs a command starting with one as `sh FILE`, so
 *  that it cannot end, move or reconfigure the batch's own shell. */
const SHELL_OWN_WORDS = new Set([
  'alias', 'bg', 'break', 'case', 'cd', 'chdir', 'command', 'continue', 'do', 'done', 'echo', 'elif', 'else', 'esac', 'eval', 'exec',
  'exit', 'export', 'false', 'fc', 'fg', 'fi', 'for', 'getopts', 'hash', 'if', 'in', 'jobs', 'kill', 'local', 'printf', 'pwd', 'read',
  'readonly', 'return', 'set', 'shift', 'test', 'then', 'times', 'trap', 'true', 'type', 'ulimit', 'umask', 'unalias', 'unset', 'until',
  'wait', 'while',
])

/** `script` is one program with plain words (no quote, variable, glob, operator or builtin): a
 *  batch runs it in its own shell's child, one exec where `sh FILE` costs a shell's too (3 ms a
 *  command on this 2-core machine), with the same input, output, status and process group. */
export function plainCommand(script: string): boolean {
  if (!/^[\w./:=,@%+-]+(?:[ \t]+[\w./:=,@%+-]+)*$/.test(script)) return false
  const program = script.split(/[ \t]/, 1)[0]!
  return /^[A-Za-z_/][\w./+-]*$/.test(program) && !SHELL_OWN_WORDS.has(program)
}

/** The script that runs a batch's commands (IDs) in the host: `start ID` and `end ID STATUS` on
 *  fd 3 around each, the next only while the status passes its gate and no STOP file exists.
 *  Each command runs as `sh FILE`, as a single command does, or, a plain one, as itself; without fd 3. */
export function batchScript(dir: string, stopFile: string, items: { id: string; gate: ExitGate; input: boolean; plain?: string }[]): string {
  const gateTest = (g: ExitGate) => (g === 'any' ? '' : g === 'nonzero' ? '[ "$s" != 0 ] || exit 0' : `[ "$s" = ${g} ] || exit 0`)
  return items.map(({ id, gate, input, plain }, i) => [
    ...(i > 0 ? [`[ -e ${stopFile} ] && exit 0`] : []),
    `echo "start ${id}" >&3`,
    `${plain ?? `sh ${dir}/${id}.sh`} <${input ? `${dir}/${id}.in` : '/dev/null'} >${dir}/${id}.out 2>${dir}/${id}.err 3>&-`,
    's=$?',
    `echo "end ${id} $s" >&3`,
    gateTest(gate),
  ].filter(Boolean).join('\n')).join('\n')
}

/** How long after a timeout's SIGKILL the command's end is awaited before giving up on it. */
const KILL_GRACE_MS = 5_000

interface Pending {
  /** The server read the request (`got`): the command may have begun from then on. */
  got?: boolean
  pgid?: number
  killed?: boolean
  end: (status: number) => void
  /** A batched command's `start` line came: it runs from now on (its timeout starts here). */
  started?: () => void
}

/** A command's result from a server; `notStarted`: the server was gone before it began it. */
type ServerResult = ProcessResult & { notStarted?: true }

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
    return !this.exited && !this.killed
  }

  /** A command's end said the server had been killed: its process may not have gone yet. */
  private killed = false

  async run(script: string, opts: { timeoutMs: number; input?: string }): Promise<ServerResult> {
    const started = performance.now()
    const id = `${process.pid}-${this.next++}`
    const file = (ext: string) => `${this.localDir}/${id}.${ext}`
    const files = opts.input !== undefined ? ['sh', 'in', 'out', 'err'] : ['sh', 'out', 'err']
    // Synchronous: a few tens of microseconds each on the host's tmpfs, a tenth of what the
    // promise-based calls cost in CPU here.
    writeFileSync(file('sh'), script)
    if (opts.input !== undefined) writeFileSync(file('in'), opts.input)
    let timedOut = false
    let atTimeout: string | undefined
    let sent: Pending | undefined
    const status = await new Promise<number>((resolve) => {
      const p: Pending = { end: resolve }
      sent = p
      this.pending.set(id, p)
      const timer = setTimeout(() => {
        timedOut = true
        atTimeout = this.atTimeout(p)
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
    const [stdout, stderr] = [readOrEmpty(file('out')), readOrEmpty(file('err'))]
    for (const ext of files) rmSync(file(ext), { force: true })
    const gone = status === 137 && this.exited && !timedOut ? `${this.name} is gone: its shell exited while the command ran\n` : ''
    return {
      exitCode: timedOut ? 124 : status,
      stdout,
      stderr: stderr + gone,
      ms: Math.round(performance.now() - started),
      ...(timedOut ? { timedOut } : {}),
      ...(atTimeout ? { atTimeout } : {}),
      // The server never said it read the request (no `got` line, sent before it forks) before its
      // output closed: the command did not run, and another server may run it. After `got` it may
      // have (killed between its fork and its `pid` line): it is not run twice.
      ...(gone && !sent?.got && sent?.pgid === undefined ? { notStarted: true as const } : {}),
    }
  }

  /** Run `items` one after another in the host in one request (batchScript). Each result is
   *  what run() would have given for it; a command that times out is killed with its batch. */
  runBatch(items: BatchItem[]): BatchRun {
    const batchId = `${process.pid}-${this.next++}`
    const stopFile = `${this.localDir}/${batchId}.stop`
    const ids = items.map(() => `${process.pid}-${this.next++}`)
    const file = (id: string, ext: string) => `${this.localDir}/${id}.${ext}`
    const plain = items.map((item) => plainCommand(item.script))
    items.forEach((item, i) => {
      if (!plain[i]) writeFileSync(file(ids[i]!, 'sh'), item.script)
      if (item.input !== undefined) writeFileSync(file(ids[i]!, 'in'), item.input)
    })
    writeFileSync(file(batchId, 'sh'), batchScript(SHELL_DIR, `${SHELL_DIR}/${batchId}.stop`, items.map((item, i) => ({
      id: ids[i]!, gate: item.gate, input: item.input !== undefined, ...(plain[i] ? { plain: item.script } : {}),
    }))))
    const batch: Pending = { end: () => undefined }
    let current: { id: string; started: number; timedOut: boolean; atTimeout?: string } | undefined
    const results = items.map((item, i) => new Promise<ProcessResult | undefined>((resolve) => {
      const id = ids[i]!
      let timer: NodeJS.Timeout | undefined
      const finish = (status: number | undefined) => {
        clearTimeout(timer)
        this.pending.delete(id)
        const exts = item.input !== undefined ? ['sh', 'in', 'out', 'err'] : ['sh', 'out', 'err']
        const ran = current?.id === id ? current : undefined
        if (status === undefined || !ran) resolve(undefined)
        else {
          const gone = status === 137 && this.exited && !ran.timedOut ? `${this.name} is gone: its shell exited while the command ran\n` : ''
          resolve({
            exitCode: ran.timedOut ? 124 : status,
            stdout: readOrEmpty(file(id, 'out')),
            stderr: readOrEmpty(file(id, 'err')) + gone,
            ms: Math.round(performance.now() - ran.started),
            ...(ran.timedOut ? { timedOut: true } : {}),
            ...(ran.atTimeout ? { atTimeout: ran.atTimeout } : {}),
          })
        }
        for (const ext of exts) rmSync(file(id, ext), { force: true })
      }
      this.pending.set(id, {
        end: finish,
        started: () => {
          current = { id, started: performance.now(), timedOut: false }
          const running = current
          timer = setTimeout(() => {
            running.timedOut = true
            running.atTimeout = this.atTimeout(batch)
            this.kill(batch)
            // A batch that cannot be killed (the host wedged) still ends the step.
            setTimeout(() => this.pending.get(batchId) === batch && (this.pending.delete(batchId), batch.end(137)), KILL_GRACE_MS).unref()
          }, item.timeoutMs)
        },
      })
    }))
    // When the batch ends, its commands that did not end were killed (the one running) or not run.
    batch.end = (status) => {
      for (const id of ids) this.pending.get(id)?.end(current?.id === id ? status : (undefined as unknown as number))
      rmSync(stopFile, { force: true })
      for (const ext of ['sh', 'out', 'err']) rmSync(file(batchId, ext), { force: true })
    }
    this.pending.set(batchId, batch)
    if (this.exited) batch.end(137)
    else this.transport.stdin.write(`batch ${batchId}\n`)
    return { results, stop: async () => writeFileSync(stopFile, '') }
  }

  /** End the server (its host may live on); commands still running are left to the host. */
  close(): void {
    this.transport.stdin.end()
  }

  private answer(line: string): void {
    const [what, id, value, gone] = line.split(' ')
    if (gone === 'gone') this.killed = true
    const p = this.pending.get(id!)
    if (!p) return
    if (what === 'got') {
      p.got = true
    } else if (what === 'pid') {
      p.pgid = Number(value)
      if (p.killed) this.kill(p)
    } else if (what === 'start') {
      p.started?.()
    } else if (what === 'end') {
      this.pending.delete(id!)
      p.end(Number(value))
    }
  }

  /** What a timed-out command's processes are doing (timeout-evidence.ts), or which of the
   *  server's answers never came: a lost answer and a command stuck in the host must not look
   *  alike in the report. */
  private atTimeout(p: Pending): string {
    if (p.pgid === undefined) return p.got ? `${this.name}'s shell read the request but never said it started the command` : `${this.name}'s shell never said it read the request`
    if (!this.localDir.endsWith(SHELL_DIR)) return ''
    const processes = snapshotProcessGroup(`${this.localDir.slice(0, -SHELL_DIR.length)}/proc`, p.pgid)
    return processes.length ? describeSnapshots(processes) : `no process of its group ${p.pgid} was left, yet its end had not come back from ${this.name}'s shell`
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
  // Gone when its output has closed, not at its exit: the lines it wrote before it died (`end`
  // of a command, `got`) are read first, so a command that ended is not taken for one cut short.
  const exited = new Promise<void>((resolve) => {
    child.stdout.once('close', () => resolve())
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

  /** Run `script` on the server (undefined: none could start). A command sent to a server that
   *  died before it began it (an earlier command killed the server, and its end came back before
   *  the server was seen to die) runs once more on a new server. */
  async run(script: string, opts: { timeoutMs: number; input?: string }): Promise<ProcessResult | undefined> {
    const server = await this.server()
    if (!server) return undefined
    const { notStarted, ...result } = await server.run(script, opts)
    if (!notStarted) return result
    const next = await this.server()
    if (!next || next === server) return result
    const { notStarted: _, ...again } = await next.run(script, opts)
    return again
  }

  /** Settles once the server, if one was started, has exited. */
  async gone(): Promise<void> {
    await (await this.current)?.done
  }
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}
