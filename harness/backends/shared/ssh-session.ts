// One long-lived shell per SSH host, on one channel, that runs the host's commands: a command
// costs a request line and a few forks in the guest instead of a new SSH channel, an sshd
// session (PAM, login shell) and a shell. Under TCG that is most of a command's time.
//
// It works as harness/shell-server.ts does for netns and docker hosts (each command under
// setsid in a process group of its own, its output in files of the host, so a background job
// cannot hold the result open; a timeout kills the group and keeps the output so far), but the
// files are not reachable from this machine: the script and input travel in the request as
// quoted shell words, and stdout and stderr in the answer, each ended by a random mark of the
// session that no command is told, so every byte comes back as written.
import { randomBytes } from 'node:crypto'
import type { ClientChannel } from 'ssh2'

/** What the session needs of an SSH connection (ssh-host.ts's SshConnection). */
export interface ChannelOpener {
  readonly target: string
  openChannel(command: string, attach: (channel: ClientChannel) => void): Promise<void>
}

type RunResult = { exitCode: number; stdout: string; stderr: string; ms: number; timedOut?: boolean }

/** The server: `sh -s` in the host, reading these definitions and then one request a line,
 *  as shell code: `go ID SCRIPT [INPUT] &` (each a quoted word; no INPUT: stdin is /dev/null)
 *  and `k ID` (SIGKILL that command's process group). Each answer is `end ID STATUS`, a line,
 *  then the command's stdout, the mark, its stderr and the mark, written whole under a lock so
 *  answers never interleave. Under TCG each program a command costs (fork and exec) takes a
 *  visible time, so the path of a command runs four: setsid, sh, flock, cat; the rest are
 *  builtins. */
export function sessionScript(mark: string): string {
  return [
    'for t in setsid flock cat; do command -v $t >/dev/null || { echo "no $t in this host"; exit 1; }; done',
    'd=/run/labproof-ssh-$$',
    'mkdir -p "$d" 2>/dev/null || { d=${TMPDIR:-/tmp}/labproof-ssh-$$; mkdir -p "$d"; } || exit 1',
    'trap \'rm -rf "$d"\' EXIT',
    `printf '\\n%s\\n' ${mark} >"$d/mark"`,
    'go() {',
    '  printf %s "$2" >"$d/$1.sh"',
    '  if [ $# -gt 2 ]; then printf %s "$3" >"$d/$1.in"; i="$d/$1.in"; else i=/dev/null; fi',
    '  setsid sh "$d/$1.sh" <"$i" >"$d/$1.out" 2>"$d/$1.err" &',
    '  echo $! >"$d/$1.pid"',
    // A kill that came before the PID was written finds the mark here.
    '  [ -e "$d/$1.kill" ] && kill -KILL "-$!" 2>/dev/null',
    '  wait $!',
    '  printf \'end %s %s\\n\' "$1" $? >"$d/$1.end"',
    '  flock "$d/lock" cat "$d/$1.end" "$d/$1.out" "$d/mark" "$d/$1.err" "$d/mark"',
    '  rm -f "$d/$1.sh" "$d/$1.in" "$d/$1.out" "$d/$1.err" "$d/$1.pid" "$d/$1.kill" "$d/$1.end" &',
    '}',
    'k() { : >"$d/$1.kill"; { read -r p <"$d/$1.pid" && kill -KILL "-$p"; } 2>/dev/null; }',
    'echo "ready $d"',
    '',
  ].join('\n')
}

/** How long after a timeout's SIGKILL the command's end is awaited before giving up on it. */
const KILL_GRACE_MS = 5_000

export type SessionAnswer =
  | { kind: 'line'; line: string }
  | { kind: 'end'; id: string; status: number; stdout: Buffer; stderr: Buffer }

/** Splits the server's stdout into answers, whatever the chunks' boundaries. */
export class SessionFrames {
  private buffer: Buffer = Buffer.alloc(0)
  private readonly mark: Buffer
  private body?: { id: string; status: number; stdout?: Buffer }

  constructor(mark: string) {
    this.mark = Buffer.from(`\n${mark}\n`)
  }

  push(chunk: Buffer): SessionAnswer[] {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk
    const answers: SessionAnswer[] = []
    for (;;) {
      if (this.body) {
        const at = this.buffer.indexOf(this.mark)
        if (at < 0) break
        const part = Buffer.from(this.buffer.subarray(0, at))
        this.buffer = this.buffer.subarray(at + this.mark.length)
        if (!this.body.stdout) {
          this.body.stdout = part
          continue
        }
        answers.push({ kind: 'end', id: this.body.id, status: this.body.status, stdout: this.body.stdout, stderr: part })
        this.body = undefined
        continue
      }
      const nl = this.buffer.indexOf(10)
      if (nl < 0) break
      const line = this.buffer.subarray(0, nl).toString()
      this.buffer = this.buffer.subarray(nl + 1)
      const end = /^end (\S+) (\d+)$/.exec(line)
      if (end) this.body = { id: end[1]!, status: Number(end[2]) }
      else answers.push({ kind: 'line', line })
    }
    return answers
  }
}

interface Pending {
  end: (answer: { status: number; stdout: string; stderr: string } | undefined) => void
}

export class SshSession {
  private readonly pending = new Map<string, Pending>()
  private next = 0
  private closedBecause?: string
  private readonly prefix = randomBytes(4).toString('hex')
  /** The server has exited: it reads no more requests. */
  private exited = false

  private constructor(private readonly channel: ClientChannel, readonly target: string) {}

  /** Start the server on a channel of `connection` and wait until it is ready; rejects with
   *  what the host said when it cannot run (no setsid, flock, …). */
  static start(connection: ChannelOpener): Promise<SshSession> {
    return new Promise((resolve, reject) => {
      let stderr = ''
      let session: SshSession | undefined
      const mark = `labproof-end-${randomBytes(12).toString('hex')}`
      const frames = new SessionFrames(mark)
      const fail = (why: string) => reject(new Error(`could not start a shell session on ${connection.target}: ${why}${stderr.trim() ? `: ${stderr.trim()}` : ''}`))
      connection.openChannel('sh -s', (channel) => {
        channel.stderr.on('data', (d: Buffer) => { stderr = (stderr + String(d)).slice(-4000) })
        channel.on('data', (d: Buffer) => {
          for (const answer of frames.push(d)) {
            if (session) session.answer(answer)
            else if (answer.kind === 'line' && answer.line.startsWith('ready ')) {
              session = new SshSession(channel, connection.target)
              resolve(session)
            } else if (answer.kind === 'line') {
              channel.close()
              fail(`it said ${JSON.stringify(answer.line)}`)
            }
          }
        })
        // The server's exit (sshd sends its status at once) ends the session for new commands;
        // commands still running hold the channel and send their results when they end.
        channel.on('exit', () => session?.serverExited())
        channel.on('close', () => {
          if (session) session.gone('the session\'s channel closed')
          else fail('it exited before it was ready')
        })
        channel.write(sessionScript(mark))
      }).catch((e: Error) => fail(e.message))
    })
  }

  /** Whether it takes new commands. */
  get alive(): boolean {
    return this.closedBecause === undefined && !this.exited
  }

  run(script: string, opts: { timeoutMs: number; input?: string }): Promise<RunResult> {
    const started = performance.now()
    const ms = () => Math.round(performance.now() - started)
    const id = `${this.prefix}-${this.next++}`
    let timedOut = false
    return new Promise<RunResult>((resolve) => {
      const result = (a: { status: number; stdout: string; stderr: string } | undefined) => resolve({
        exitCode: timedOut ? 124 : (a?.status ?? 255),
        stdout: a?.stdout ?? '',
        stderr: a ? a.stderr : `ssh to ${this.target}: ${this.closedBecause ?? 'the session\'s shell exited'} while the command ran\n`,
        ms: ms(),
        ...(timedOut ? { timedOut } : {}),
      })
      if (!this.alive) return result(undefined)
      const p: Pending = { end: () => undefined }
      const timer = setTimeout(() => {
        timedOut = true
        this.write(`k ${id}\n`)
        // A command that cannot be killed (the guest wedged) still ends the step.
        setTimeout(() => this.pending.get(id) === p && (this.pending.delete(id), p.end(undefined)), KILL_GRACE_MS).unref()
      }, opts.timeoutMs)
      p.end = (a) => {
        clearTimeout(timer)
        result(a)
      }
      this.pending.set(id, p)
      this.write(`go ${id} ${quote(script)}${opts.input !== undefined ? ` ${quote(opts.input)}` : ''} &\n`)
    })
  }

  /** End the session; commands still running are left to the host. */
  close(): void {
    this.gone('closed by labproof')
    this.channel.end()
  }

  /** The server is gone; its running commands' results may still come. */
  serverExited(): void {
    this.exited = true
  }

  private write(data: string | Buffer): void {
    if (!this.closedBecause && !this.exited) this.channel.write(data)
  }

  private answer(a: SessionAnswer): void {
    if (a.kind !== 'end') return
    const p = this.pending.get(a.id)
    if (!p) return
    this.pending.delete(a.id)
    p.end({ status: a.status, stdout: a.stdout.toString(), stderr: a.stderr.toString() })
  }

  private gone(why: string): void {
    this.closedBecause ??= why
    for (const p of this.pending.values()) p.end(undefined)
    this.pending.clear()
  }
}

/** One shell word, whatever it holds (newlines too): single quotes, ' as '\''. */
function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}
