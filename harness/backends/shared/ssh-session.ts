// One long-lived server per SSH host, on one channel, that runs the host's commands: a command
// costs a request and a few forks in the guest instead of a new SSH channel, an sshd session
// (PAM, login shell) and a shell. Under TCG that is most of a command's time.
//
// It keeps harness/shell-server.ts's guarantees (each command in a process group of its own,
// its output in files of the host, so a background job cannot hold the result open; a timeout
// kills the group and keeps the output so far), but the files are not reachable from this
// machine: the script and input travel in the request, stdout and stderr in the answer, each
// ended by a random mark of the session that no command is told, so every byte comes back as
// written.
//
// The server is perl (perl-base is in every Debian and Ubuntu), not a shell: under TCG each
// program a command starts costs 40-60 ms, and a shell server needs four beside the command's
// own (setsid, sh, flock, cat); perl does the process group, the files, the lock and the answer
// itself, so a command costs two forks of the server and its `sh -c`; a plain command (one
// program with plain words, shell-server.ts's plainCommand) is exec'd by the server's fork
// itself, without the `sh` (55 ms of a guest command's 130 under TCG here). A host without perl
// runs each command as an exec.
import { randomBytes } from 'node:crypto'
import type { ClientChannel } from 'ssh2'
import { plainCommand, type BatchItem, type BatchRun } from '../../shell-server.ts'

/** What the session needs of an SSH connection (ssh-host.ts's SshConnection). */
export interface ChannelOpener {
  readonly target: string
  openChannel(command: string, attach: (channel: ClientChannel) => void): Promise<void>
}

type RunResult = { exitCode: number; stdout: string; stderr: string; ms: number; timedOut?: boolean }

/** A script longer than this goes to `sh` as a file: an exec argument holds at most 128 KiB. */
const SCRIPT_ARG_MAX = 100_000

/** The server, `perl -e` in the host. It reads the session's mark (a line), says `ready DIR`,
 *  then reads requests: `go ID SCRIPTLEN INPUTLEN [p]`, a line followed by the script's and the
 *  input's bytes (INPUTLEN -1: stdin is /dev/null; `p`: the script is a plain command, exec'd
 *  as its words, and through `sh -c` only if that exec fails, so sh says what is wrong); `b ID
 *  N`, a batch, followed by N commands, each a line `ITEM SCRIPTLEN INPUTLEN GATE [p]` and its
 *  bytes; `k ID`: SIGKILL that command's (or
 *  the batch's running command's) process group; `s ID`: begin none of that batch's commands
 *  not begun yet. A command or a batch is run by a fork of the server (its watcher), which forks
 *  each command into a process group of its own with its output in files, waits for it, and
 *  writes the answer: `end ID STATUS`, a line, then the stdout, the mark, the stderr and the
 *  mark, whole, under a lock, so answers never interleave. A batch's watcher runs its commands
 *  one after another, says `start ITEM` before each, goes on only while each status passes its
 *  gate (`any`, `nonzero` or a status) and no kill or stop came, and ends with `end ID 0` and
 *  no output. A kill or stop reaches the watcher by a signal (SIGUSR1, SIGUSR2); the server
 *  reaps its watchers only when it reads a request, so a watcher's PID is never reused before a
 *  request for it is read. Only perl's builtins: loading a module costs a second under TCG. */
export const SESSION_SERVER = String.raw`
$SIG{PIPE} = 'DEFAULT';
binmode STDIN; binmode STDOUT;
my $mark = <STDIN>; chomp $mark;
my $d = "/run/labproof-ssh-$$";
mkdir($d, 0700) or do { $d = ($ENV{TMPDIR} || '/tmp') . "/labproof-ssh-$$"; mkdir($d, 0700) }
  or do { syswrite(STDOUT, "cannot make a directory for the session: $!\n"); exit 1 };
my (%watcher, $command, $killed, $stopped);
$SIG{USR1} = sub { $killed = 1; kill('KILL', -$command) if $command };
$SIG{USR2} = sub { $stopped = 1 };
sub put { my $s = shift; while (length $s) { my $n = syswrite(STDOUT, $s); return unless $n; substr($s, 0, $n) = '' } }
sub spill { my ($f, $s) = @_; open(my $h, '>', $f) or return; print $h $s; close $h }
sub slurp { open(my $h, '<', shift) or return ''; local $/; my $s = <$h>; defined $s ? $s : '' }
sub locked { open(my $lock, '>>', "$d/lock"); flock($lock, 2); put(shift); close $lock }
sub answer { my ($id, $status, $out, $err) = @_; locked("end $id $status\n$out\n$mark\n$err\n$mark\n") }
sub reap { while ((my $p = waitpid(-1, 1)) > 0) { delete $watcher{$_} for grep { $watcher{$_} == $p } keys %watcher } }
sub passes { my ($gate, $s) = @_; $gate eq 'any' || ($gate eq 'nonzero' ? $s != 0 : $s == $gate) }
sub run {
  my ($id, $script, $input, $plain) = @_;
  my $in = '/dev/null';
  if (defined $input) { $in = "$d/$id.in"; spill($in, $input) }
  my @sh = ('sh', '-c', $script, 'sh');
  if (length $script > ${SCRIPT_ARG_MAX}) { spill("$d/$id.sh", $script); @sh = ('sh', "$d/$id.sh") }
  $command = fork;
  if (defined $command && !$command) {
    setpgrp(0, 0);
    open(STDIN, '<', $in); open(STDOUT, '>', "$d/$id.out"); open(STDERR, '>', "$d/$id.err");
    if ($plain) { my @w = split(/[ \t]+/, $script); exec { $w[0] } @w }
    exec { '/bin/sh' } @sh;
    print STDERR "labproof session: cannot run /bin/sh: $!\n"; exit 127;
  }
  unless (defined $command) { answer($id, 255, '', "labproof session: cannot fork: $!\n"); return 255 }
  setpgrp($command, $command);
  kill('KILL', -$command) if $killed;
  waitpid($command, 0);
  my $status = $? & 127 ? 128 + ($? & 127) : $? >> 8;
  $command = undef;
  answer($id, $status, slurp("$d/$id.out"), slurp("$d/$id.err"));
  unlink map { "$d/$id.$_" } qw(in sh out err);
  return $status;
}
sub take {
  my ($slen, $ilen, $plain) = @_;
  my ($script, $input) = ('', undef);
  return if $slen && read(STDIN, $script, $slen) != $slen;
  if ($ilen >= 0) { $input = ''; return if $ilen && read(STDIN, $input, $ilen) != $ilen }
  return ($script, $input, $plain ? 1 : 0);
}
sub watch {
  my ($id, $job) = @_;
  my $p = fork;
  if (!defined $p) { answer($id, 255, '', "labproof session: cannot fork: $!\n") }
  elsif ($p) { $watcher{$id} = $p }
  else { $job->(); exit 0 }
}
put("ready $d\n");
LINE: while (defined(my $line = <STDIN>)) {
  reap();
  if ($line =~ /^k (\S+)$/) { kill('USR1', $watcher{$1}) if $watcher{$1}; next }
  if ($line =~ /^s (\S+)$/) { kill('USR2', $watcher{$1}) if $watcher{$1}; next }
  if (my ($id, $slen, $ilen, $plain) = $line =~ /^go (\S+) (\d+) (-1|\d+)( p)?$/) {
    my @c = take($slen, $ilen, $plain) or last;
    watch($id, sub { run($id, @c) });
  } elsif (my ($bid, $n) = $line =~ /^b (\S+) (\d+)$/) {
    my @items;
    for (1 .. $n) {
      my ($item, $slen, $ilen, $gate, $plain) = <STDIN> =~ /^(\S+) (\d+) (-1|\d+) (any|nonzero|\d+)( p)?$/ or last LINE;
      my @c = take($slen, $ilen, $plain) or last LINE;
      push @items, [$item, $gate, @c];
    }
    watch($bid, sub {
      for my $i (@items) {
        last if $killed || $stopped;
        locked("start $i->[0]\n");
        last unless passes($i->[1], run($i->[0], $i->[2], $i->[3], $i->[4]));
      }
      answer($bid, 0, '', '');
    });
  }
}
1 while waitpid(-1, 0) > 0;
if (opendir(my $dh, $d)) { unlink map { "$d/$_" } grep { !/^\.\.?$/ } readdir $dh }
rmdir $d;
`

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
  /** A batch's command has begun (`start ID`). */
  started?: () => void
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
   *  what the host said when it cannot run (no perl, …). */
  static start(connection: ChannelOpener): Promise<SshSession> {
    return new Promise((resolve, reject) => {
      let stderr = ''
      let session: SshSession | undefined
      const mark = `labproof-end-${randomBytes(12).toString('hex')}`
      const frames = new SessionFrames(mark)
      const fail = (why: string) => reject(new Error(`could not start a command session on ${connection.target}: ${why}${stderr.trim() ? `: ${stderr.trim()}` : ''}`))
      connection.openChannel(`perl -e ${quote(SESSION_SERVER)}`, (channel) => {
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
        channel.write(`${mark}\n`)
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
        stderr: a ? a.stderr : `ssh to ${this.target}: ${this.closedBecause ?? 'the session\'s server exited'} while the command ran\n`,
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
      const body = Buffer.from(script)
      const input = opts.input === undefined ? undefined : Buffer.from(opts.input)
      this.write(Buffer.concat([Buffer.from(`go ${id} ${body.length} ${input?.length ?? -1}${plainFlag(script)}\n`), body, ...(input ? [input] : [])]))
    })
  }

  /** Run `items` one after another in the host in one request, each as run() would, going on
   *  only while each status passes its gate. A command that times out is killed and ends its
   *  batch; a result is undefined for a command not run (a gate, a timeout, stop(), the session
   *  gone before it began). */
  runBatch(items: BatchItem[]): BatchRun {
    const batchId = `${this.prefix}-${this.next++}`
    const ids = items.map(() => `${this.prefix}-${this.next++}`)
    const settle: Array<(r: RunResult | undefined) => void> = []
    const results = items.map((_, i) => new Promise<RunResult | undefined>((resolve) => (settle[i] = resolve)))
    let killed = false
    items.forEach((item, i) => {
      const id = ids[i]!
      let started: number | undefined
      let timedOut = false
      let timer: NodeJS.Timeout | undefined
      const p: Pending = {
        end: (a) => {
          clearTimeout(timer)
          this.pending.delete(id)
          if (started === undefined) return settle[i]!(undefined)
          settle[i]!({
            exitCode: timedOut ? 124 : (a?.status ?? 255),
            stdout: a?.stdout ?? '',
            stderr: a ? a.stderr : `ssh to ${this.target}: ${this.closedBecause ?? 'the session\'s server exited'} while the command ran\n`,
            ms: Math.round(performance.now() - started),
            ...(timedOut ? { timedOut } : {}),
          })
        },
        started: () => {
          started = performance.now()
          timer = setTimeout(() => {
            timedOut = killed = true
            this.write(`k ${batchId}\n`)
            // A command that cannot be killed (the guest wedged) still ends the step.
            setTimeout(() => this.pending.get(id) === p && p.end(undefined), KILL_GRACE_MS).unref()
          }, item.timeoutMs)
        },
      }
      this.pending.set(id, p)
    })
    // The batch's end: its commands that have no result were not run.
    this.pending.set(batchId, { end: () => ids.forEach((id) => this.pending.get(id)?.end(undefined)) })
    if (!this.alive) this.pending.get(batchId)!.end(undefined)
    else {
      this.write(Buffer.concat([Buffer.from(`b ${batchId} ${items.length}\n`), ...items.flatMap((item, i) => {
        const body = Buffer.from(item.script)
        const input = item.input === undefined ? undefined : Buffer.from(item.input)
        return [Buffer.from(`${ids[i]} ${body.length} ${input?.length ?? -1} ${item.gate}${plainFlag(item.script)}\n`), body, ...(input ? [input] : [])]
      })]))
    }
    return { results, stop: async () => void (killed || this.write(`s ${batchId}\n`)) }
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
    if (a.kind === 'line') return void this.pending.get(/^start (\S+)$/.exec(a.line)?.[1] ?? '')?.started?.()
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

/** ` p` on a request whose script the server may exec as its words (SESSION_SERVER). */
function plainFlag(script: string): string {
  return plainCommand(script) ? ' p' : ''
}

/** One shell word for sshd's shell, whatever it holds (newlines too): single quotes, ' as '\''. */
function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}
