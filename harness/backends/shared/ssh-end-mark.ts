// The end of a command's output on an SSH channel. sshd may send a command's exit status before
// its last output, so the wrapper ssh-host.ts runs writes a mark after the command on each
// stream; what comes before the mark is the command's output, all of it.
/** One output stream of a command, up to the wrapper's end mark (which is not output). */
export class MarkedStream {
  private readonly chunks: Buffer[] = []
  /** The last bytes pushed, fewer than the mark's: where a mark split across chunks begins. */
  private tail = Buffer.alloc(0)
  private readonly mark: Buffer
  ended = false

  constructor(mark: string) {
    this.mark = Buffer.from(mark)
  }

  push(d: Buffer): void {
    if (this.ended || !d.length) return
    // The mark may straddle chunks: look in the new chunk and the few bytes before it.
    const before = this.tail.length
    const window = Buffer.concat([this.tail, d])
    const at = window.indexOf(this.mark)
    if (at < 0) {
      this.chunks.push(d)
      this.tail = window.subarray(Math.max(0, window.length - this.mark.length + 1))
      return
    }
    this.ended = true
    const all = Buffer.concat([...this.chunks, d])
    this.chunks.splice(0, this.chunks.length, all.subarray(0, all.length - d.length - before + at))
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks)
  }

  text(): string {
    return this.bytes().toString()
  }
}
