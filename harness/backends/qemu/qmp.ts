// A small client for QMP, qemu's machine protocol (JSON lines on a unix socket): what the qemu
// backend asks a VM (`query-status`, `stop`, `migrate`, `cont`, `quit`) and the events it says
// (STOP, SHUTDOWN, …). One command at a time per connection, answers in order, as QMP does.
import { connect, type Socket } from 'node:net'
import { existsSync } from 'node:fs'

export interface QmpEvent {
  event: string
  data?: Record<string, unknown>
}

/** `query-status`: `running`, `paused`, `internal-error`, `guest-panicked`, `shutdown`, `inmigrate`, … */
export interface QmpStatus {
  running: boolean
  status: string
}

type Waiter = { resolve: (v: unknown) => void; reject: (e: Error) => void; command: string }

export class QmpClient {
  private buffer = ''
  private readonly waiters: Waiter[] = []
  private readonly listeners = new Set<(e: QmpEvent) => void>()
  /** Every event seen, in order, for messages. */
  readonly events: QmpEvent[] = []
  private closedBecause?: string

  private constructor(private readonly socket: Socket, readonly path: string) {
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => this.take(d))
    socket.on('error', (e) => this.close(`QMP socket error: ${e.message}`))
    socket.on('close', () => this.close('qemu closed its QMP socket'))
  }

  /** Connect to qemu's `-qmp unix:PATH,server=on,wait=off` socket and leave capabilities
   *  negotiation. Retries while qemu has not made the socket yet; gives up at `timeoutMs`
   *  or as soon as `gone()` says qemu has exited. */
  static async connect(path: string, opts: { timeoutMs: number; gone?: () => boolean }): Promise<QmpClient> {
    const deadline = Date.now() + opts.timeoutMs
    let last = 'no socket yet'
    for (;;) {
      if (opts.gone?.()) throw new Error(`QMP ${path}: qemu exited before it answered (${last})`)
      if (existsSync(path)) {
        try {
          const socket = await new Promise<Socket>((resolve, reject) => {
            const s = connect(path)
            s.once('connect', () => resolve(s))
            s.once('error', reject)
          })
          const client = new QmpClient(socket, path)
          await client.greeting(Math.max(1_000, deadline - Date.now()))
          await client.execute('qmp_capabilities')
          return client
        } catch (e) {
          last = (e as Error).message
        }
      }
      if (Date.now() > deadline) throw new Error(`QMP ${path}: no answer within ${Math.round(opts.timeoutMs / 1000)} s (${last})`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  private greeted = false
  private greetingSeen?: () => void
  private greeting(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.greeted) return resolve()
      const timer = setTimeout(() => reject(new Error('no QMP greeting')), timeoutMs)
      this.greetingSeen = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  private take(data: string): void {
    this.buffer += data
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).trim()
      this.buffer = this.buffer.slice(nl + 1)
      if (!line) continue
      let msg: Record<string, unknown>
      try {
        msg = JSON.parse(line) as Record<string, unknown>
      } catch {
        continue
      }
      if ('QMP' in msg) {
        this.greeted = true
        this.greetingSeen?.()
      }
      else if ('event' in msg) {
        const event = { event: String(msg.event), data: msg.data as Record<string, unknown> | undefined }
        this.events.push(event)
        for (const l of this.listeners) l(event)
      } else if ('return' in msg || 'error' in msg) {
        const w = this.waiters.shift()
        if (!w) continue
        const err = msg.error as { class?: string; desc?: string } | undefined
        if (err) w.reject(new Error(`QMP ${w.command}: ${err.desc ?? err.class ?? 'error'}`))
        else w.resolve(msg.return)
      }
    }
  }

  get closed(): boolean {
    return this.closedBecause !== undefined
  }

  /** Run one command; rejects with qemu's error description, or when the socket closes. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closedBecause) return Promise.reject(new Error(`QMP ${command}: ${this.closedBecause}`))
    return new Promise<T>((resolve, reject) => {
      this.waiters.push({ resolve: resolve as (v: unknown) => void, reject, command })
      this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`)
    })
  }

  status(): Promise<QmpStatus> {
    return this.execute<QmpStatus>('query-status')
  }

  /** Call `listener` for every event from now on; returns the unsubscribe. */
  onEvent(listener: (e: QmpEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  close(why = 'closed by labproof'): void {
    if (this.closedBecause) return
    this.closedBecause = why
    for (const w of this.waiters.splice(0)) w.reject(new Error(`QMP ${w.command}: ${why}`))
    this.socket.destroy()
  }
}
