// A host reached over SSH (ssh2): a VM, a Vagrant box, or a student's machine when grading.
// One connection per host; every command is its own channel on it, or (for the lab's VMs) a
// request to one long-lived session server on one channel (ssh-session.ts). The host key is checked
// against a SHA256 fingerprint the caller pins (as `ssh-keygen -lf` and OpenSSH print it), and
// is refused otherwise with the fingerprint to pin. No key, password or passphrase is ever
// put in a message.
import { createHash, randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { constants } from 'node:os'
import type { Client, ClientChannel, SFTPWrapper } from 'ssh2'
import { BaseHost } from '../../base-host.ts'
import { shellQuote, type Capabilities, type ExecResult } from '../../host.ts'
import { MarkedStream } from './ssh-end-mark.ts'
import type { BatchItem, BatchRun } from '../../shell-server.ts'
import { SshSession } from './ssh-session.ts'

/** When a command's end marks never come after its exit status (the wrapper could not run),
 *  its output is awaited this long for the channel to close. */
const NO_MARKS_GRACE_MS = 2_000

export interface SshConnectOptions {
  host: string
  port?: number
  username: string
  /** The identity's private key (OpenSSH or PEM text), never its path. */
  privateKey: string | Buffer
  passphrase?: string
  /** The server's host key fingerprint, "SHA256:…" as OpenSSH prints it; several are allowed. */
  hostKeySha256?: string | readonly string[]
  /** Speak SSH over this stream instead of opening a TCP connection to host:port. */
  sock?: Duplex
  /** How long the TCP connect plus SSH handshake may take. */
  readyTimeoutMs?: number
  keepaliveIntervalMs?: number
  /** Channels open at once for commands; sshd's default MaxSessions is 10 (one is kept for
   *  killing timed-out commands, one for SFTP). */
  maxChannels?: number
  /** Put before every remote command, e.g. `nsenter --net=/proc/1/ns/net --`. */
  commandPrefix?: string
}

type RunResult = Omit<ExecResult, 'host' | 'command' | 'netns'>

/** `SHA256:<base64 without padding>` of a raw host key, exactly as OpenSSH prints it. */
export function sshFingerprint(hostKey: Buffer): string {
  return `SHA256:${createHash('sha256').update(hostKey).digest('base64').replace(/=+$/, '')}`
}

function normalizeFingerprint(fp: string): string {
  const trimmed = fp.trim().replace(/=+$/, '')
  return trimmed.startsWith('SHA256:') ? trimmed : `SHA256:${trimmed}`
}

export class SshConnection {
  private sftpSession?: Promise<SFTPWrapper>
  private openChannels = 0
  /** Channels for commands open at once: maxChannels, lowered when the server refuses one. */
  private channelLimit: number
  private readonly waiting: Array<() => void> = []
  private closedBecause?: string
  /** Finish every running command at once when the connection goes. */
  private readonly running = new Set<() => void>()

  constructor(
    private readonly client: Client,
    /** "user@host:port", for messages. */
    readonly target: string,
    private readonly opts: SshConnectOptions,
  ) {
    this.channelLimit = opts.maxChannels ?? 8
    client.on('close', () => {
      this.closedBecause ??= 'the connection closed'
      for (const abort of [...this.running]) abort()
      // Commands waiting for a channel learn at once that there will be none.
      for (const wake of this.waiting.splice(0)) wake()
    })
    client.on('error', (e) => {
      this.closedBecause = `the connection failed: ${e.message}`
    })
  }

  get closed(): boolean {
    return this.closedBecause !== undefined
  }

  /** Run one sh script; never throws. The script runs in its own session (setsid), so a
   *  timeout kills it and every process it started, through a second channel. */
  async run(script: string, opts: { timeoutMs: number; input?: string }): Promise<RunResult> {
    const started = performance.now()
    const ms = () => Math.round(performance.now() - started)
    if (this.closedBecause) return { exitCode: 255, stdout: '', stderr: `ssh to ${this.target}: ${this.closedBecause}`, ms: ms() }
    const prefix = this.opts.commandPrefix ? `${this.opts.commandPrefix} ` : ''
    // The first line the wrapper prints is its PID, which is its process group: the kill target.
    // After the command it writes an end mark on each stream: sshd may send the exit status
    // before the last output (OpenSSH reaps the child before it reads the pipes in the same
    // poll round), so the command's output is complete when both marks have come, not at the
    // exit status. A background job's output after the marks is not the command's.
    const mark = `labproof-end-${randomBytes(8).toString('hex')}`
    const wrapper = `echo $$; "$@"; s=$?; printf '\\n${mark} %d\\n' $s; printf '\\n${mark}\\n' >&2; exit $s`
    const remote = `exec setsid -w sh -c ${shellQuote(wrapper)} labproof ${prefix}sh -c ${shellQuote(script)}`
    await this.acquireChannel()
    if (this.closedBecause) {
      this.releaseChannel()
      return { exitCode: 255, stdout: '', stderr: `ssh to ${this.target}: ${this.closedBecause}`, ms: ms() }
    }
    // collect() attaches its listeners inside the exec callback, synchronously: a fast command's
    // exit status can arrive in the same read as the channel's opening, and ssh2 emits 'exit'
    // once, at once; a listener attached after an await would miss it. The channel's place
    // is given back when sshd has closed it, not when the result is in: sshd counts a session
    // until then, and one more would be refused (MaxSessions).
    return new Promise<RunResult>((resolve) => {
      const refused = (err: Error) => {
        this.releaseChannel()
        // The server allows fewer sessions at once than we had open (its MaxSessions, or
        // sessions it has not freed yet): use fewer from now on, and try again when one closes.
        if (/open failed|administratively prohibited/i.test(err.message) && this.openChannels > 0) {
          this.channelLimit = Math.max(1, this.openChannels)
          return resolve(this.run(script, opts))
        }
        resolve({ exitCode: 255, stdout: '', stderr: `ssh to ${this.target}: could not open a channel: ${err.message}`, ms: ms() })
      }
      try {
        this.client.exec(remote, (err, channel) => {
          if (err) return refused(err)
          channel.once('close', () => this.releaseChannel())
          resolve(this.collect(channel, mark, opts, ms))
        })
      } catch (e) {
        refused(e as Error) // ssh2 throws when the socket is no longer writable
      }
    })
  }

  private collect(channel: ClientChannel, mark: string, opts: { timeoutMs: number; input?: string }, ms: () => number): Promise<RunResult> {
    return new Promise((resolve) => {
      const stdout = new MarkedStream(`\n${mark} `)
      const stderr = new MarkedStream(`\n${mark}\n`)
      let header = Buffer.alloc(0)
      let pgid: number | undefined
      let exitCode: number | undefined
      let timedOut = false
      const ended = () => stdout.ended && stderr.ended
      channel.on('data', (d: Buffer) => {
        if (pgid === undefined) {
          header = Buffer.concat([header, d])
          const nl = header.indexOf(10)
          if (nl < 0) return
          const first = header.subarray(0, nl).toString()
          pgid = /^\d+$/.test(first) ? Number(first) : 0 // 0: no wrapper line, everything is output
          d = pgid ? header.subarray(nl + 1) : header
        }
        stdout.push(d)
        if (ended() && exitCode !== undefined) finish()
      })
      channel.stderr.on('data', (d: Buffer) => {
        stderr.push(d)
        if (ended() && exitCode !== undefined) finish()
      })
      let done = false
      let grace: NodeJS.Timeout | undefined
      let noMarks: NodeJS.Timeout | undefined
      channel.on('exit', (code: number | null, signal?: string) => {
        exitCode = typeof code === 'number' ? code : 128 + (constants.signals[signal as keyof typeof constants.signals] ?? 0)
        // A command that leaves a background job (`sleep 6666666 &`) exits while the job still
        // holds the channel open: the result comes with the exit status and the end marks.
        if (ended()) return finish()
        noMarks = setTimeout(finish, NO_MARKS_GRACE_MS)
      })
      const timer = setTimeout(() => {
        timedOut = true
        if (pgid) this.killGroup(pgid)
        else channel.close()
        // Give the kill a moment to close the channel; then stop waiting regardless.
        grace = setTimeout(() => {
          channel.close()
          finish()
        }, 5_000)
      }, opts.timeoutMs)
      const finish = () => {
        if (done) return
        done = true
        clearTimeout(timer)
        clearTimeout(grace)
        clearTimeout(noMarks)
        this.running.delete(finish)
        channel.close()
        if (pgid === undefined && header.length) stdout.push(header)
        let err = stderr.text()
        // setsid -w complains when its child was killed: that is our kill, not the command's words.
        if (timedOut) err = err.replace(/^setsid: child \d+ did not exit normally.*\n?/m, '')
        const lost = exitCode === undefined && !timedOut
        resolve({
          exitCode: timedOut ? 124 : (exitCode ?? 255),
          stdout: stdout.text(),
          stderr: lost ? `${err}ssh to ${this.target}: the channel closed without an exit status (${this.closedBecause ?? 'connection lost?'})\n` : err,
          ms: ms(),
          ...(timedOut ? { timedOut } : {}),
        })
      }
      this.running.add(finish)
      channel.on('close', finish)
      if (opts.input !== undefined) channel.end(opts.input)
      else channel.end()
    })
  }

  /** Open a channel that runs `command` (after the command prefix) for as long as it lives: a
   *  shell session. `attach` gets the channel at once, before any of its data or events. It
   *  holds a place among the channels until sshd closes it. */
  async openChannel(command: string, attach: (channel: ClientChannel) => void): Promise<void> {
    if (this.closedBecause) throw new Error(this.closedBecause)
    await this.acquireChannel()
    if (this.closedBecause) {
      this.releaseChannel()
      throw new Error(this.closedBecause)
    }
    const prefix = this.opts.commandPrefix ? `${this.opts.commandPrefix} ` : ''
    await new Promise<void>((resolve, reject) => {
      const refused = (err: Error) => {
        this.releaseChannel()
        reject(new Error(`could not open a channel: ${err.message}`))
      }
      try {
        this.client.exec(`${prefix}${command}`, (err, channel) => {
          if (err) return refused(err)
          channel.once('close', () => this.releaseChannel())
          attach(channel)
          resolve()
        })
      } catch (e) {
        refused(e as Error)
      }
    })
  }

  /** Kill a timed-out command's process group; uses a channel outside the command limit. */
  private killGroup(pgid: number): void {
    this.client.exec(`kill -KILL -- -${pgid} 2>/dev/null`, (e, ch) => {
      if (e) return
      ch.on('data', () => {}).on('close', () => {})
      ch.stderr.on('data', () => {})
      ch.end()
    })
  }

  private acquireChannel(): Promise<void> {
    if (this.openChannels < this.channelLimit) {
      this.openChannels++
      return Promise.resolve()
    }
    return new Promise((resolve) => this.waiting.push(() => {
      this.openChannels++
      resolve()
    }))
  }

  private releaseChannel(): void {
    this.openChannels--
    if (this.openChannels < this.channelLimit) this.waiting.shift()?.()
  }

  /** Copy a remote file here over SFTP, byte for byte. */
  async copyFrom(remotePath: string, localPath: string): Promise<void> {
    if (this.closedBecause) throw new Error(`cannot copy ${this.target}:${remotePath}: ${this.closedBecause}`)
    this.sftpSession ??= new Promise<SFTPWrapper>((resolve, reject) =>
      this.client.sftp((e, sftp) => (e ? reject(e) : resolve(sftp))))
    let sftp: SFTPWrapper
    try {
      sftp = await this.sftpSession
    } catch (e) {
      this.sftpSession = undefined
      throw new Error(`could not open SFTP on ${this.target} (is its sftp-server subsystem enabled?): ${(e as Error).message}`)
    }
    await new Promise<void>((resolve, reject) => sftp.fastGet(remotePath, localPath, (e) => (e
      ? reject(new Error(`could not copy ${this.target}:${remotePath} to ${localPath} over SFTP: ${e.message}`))
      : resolve())))
  }

  close(): void {
    this.closedBecause ??= 'closed by labproof'
    this.client.end()
  }

  /** Close, and settle once the server has closed its end too (its session processes ended). */
  closeAndWait(timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      this.client.once('close', () => {
        clearTimeout(timer)
        resolve()
      })
      this.close()
    })
  }
}

/** Open one SSH connection; rejects with a message that says what to do. */
export async function connectSsh(opts: SshConnectOptions): Promise<SshConnection> {
  const port = opts.port ?? 22
  const target = `${opts.username}@${opts.host}:${port}`
  const pinned = ([] as string[]).concat(opts.hostKeySha256 ?? []).map(normalizeFingerprint)
  let seenFingerprint: string | undefined
  // Loaded when a connection is made: a run sweeping a VM backend's leftovers connects nowhere.
  const client = new (await import('ssh2')).Client()
  return new Promise((resolve, reject) => {
    let settled = false
    const fail = (why: string) => {
      settled = true
      client.end()
      reject(new Error(`ssh ${target}: ${why}`))
    }
    client.once('ready', () => {
      settled = true
      client.removeAllListeners('error')
      client.on('error', () => {}) // reported through SshConnection from now on
      resolve(new SshConnection(client, target, opts))
    })
    client.on('error', (e: Error & { level?: string; code?: string }) => {
      if (settled) return // ssh2 may report one failure more than once
      if (seenFingerprint && !pinned.includes(seenFingerprint)) {
        const pin = `pin it with the host key fingerprint ${seenFingerprint} (ssh-keygen -lf <host key>.pub on the host shows it)`
        return fail(pinned.length
          ? `host key verification failed: the host presented ${seenFingerprint}, expected ${pinned.join(' or ')}. ` +
            `If the host was reinstalled and ${seenFingerprint} is right, ${pin}`
          : `the host key ${seenFingerprint} is unknown, refusing to connect; if this is the right host, ${pin}`)
      }
      if (e.level === 'client-authentication') {
        return fail(`authentication refused for user "${opts.username}" with the given identity ` +
          `(the server accepted none of: publickey); check that the identity's public key is in ~${opts.username}/.ssh/authorized_keys there`)
      }
      if (e.level === 'client-timeout') {
        return fail(`no SSH handshake within ${opts.readyTimeoutMs ?? 20_000} ms; is an SSH server listening on ${opts.host}:${port}?`)
      }
      if (e.code && ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET'].includes(e.code)) {
        return fail(`cannot reach ${opts.host}:${port} (${e.code}: ${e.message}); check the address, the port and that sshd runs there`)
      }
      fail(e.message)
    })
    client.on('close', () => settled || fail('the connection closed before the SSH handshake finished'))
    try {
      client.connect({
        host: opts.host,
        port,
        username: opts.username,
        privateKey: opts.privateKey,
        passphrase: opts.passphrase,
        sock: opts.sock as never,
        readyTimeout: opts.readyTimeoutMs ?? 20_000,
        keepaliveInterval: opts.keepaliveIntervalMs ?? 10_000,
        keepaliveCountMax: 3,
        // Only the identity given: no agent, no password, no keyboard-interactive prompts.
        authHandler: ['publickey'],
        hostVerifier: (key: Buffer) => {
          seenFingerprint = sshFingerprint(key)
          return pinned.includes(seenFingerprint)
        },
      })
    } catch (e) {
      // ssh2 throws synchronously for an unreadable key; its message names no key material.
      fail(`cannot use the given identity: ${(e as Error).message}`)
    }
  })
}

/** A Host over one SSH connection. With `session`, its commands go through one long-lived
 *  server on one channel (ssh-session.ts), started by the first command and again when it has
 *  died; a host where it cannot start (no perl) runs each command as its own exec. */
export class SshHost extends BaseHost {
  private session?: Promise<SshSession | undefined>

  /** `capabilities`: what an earlier probe of this very host (a restored VM) found. */
  constructor(name: string, readonly connection: SshConnection, private readonly opts: { session?: boolean; capabilities?: Capabilities } = {}) {
    super(name)
  }

  override capabilities(): Promise<Capabilities> {
    return this.opts.capabilities ? Promise.resolve({ ...this.opts.capabilities, host: this.name }) : super.capabilities()
  }

  protected async runShell(script: string, opts: { timeoutMs: number; input?: string }) {
    // A session runs the script as an argument of `sh -c`, which cannot hold a NUL byte.
    const session = this.opts.session && !script.includes('\0') ? await this.liveSession() : undefined
    return session ? session.run(script, opts) : this.connection.run(script, opts)
  }

  /** A batch in one request to the session; undefined (one exec after another) without one. */
  protected override async runShellBatch(items: BatchItem[]): Promise<BatchRun | undefined> {
    const session = this.opts.session && !items.some((i) => i.script.includes('\0')) ? await this.liveSession() : undefined
    return session?.alive ? session.runBatch(items) : undefined
  }

  /** How this host's commands run now: through a session, or an exec each. */
  async transport(): Promise<'session' | 'exec'> {
    return this.opts.session && (await this.liveSession()) ? 'session' : 'exec'
  }

  /** Whether the session last started still takes commands (false before the first). */
  async sessionAlive(): Promise<boolean> {
    return (await this.session)?.alive ?? false
  }

  private async liveSession(): Promise<SshSession | undefined> {
    const pending = this.session
    if (pending) {
      const session = await pending
      if (!session || session.alive || this.connection.closed) return session // could not start, running, or no connection to restart on
      if (this.session !== pending) return this.liveSession() // another command is restarting it
    }
    this.session = SshSession.start(this.connection).catch(() => undefined)
    return this.session
  }

  copyFrom(remotePath: string, localPath: string): Promise<void> {
    return this.connection.copyFrom(remotePath, localPath)
  }

  close(): void {
    void this.session?.then((s) => s?.close())
    this.connection.close()
  }
}

export async function connectSshHost(name: string, opts: SshConnectOptions & { session?: boolean }): Promise<SshHost> {
  return new SshHost(name, await connectSsh(opts), { session: opts.session })
}
