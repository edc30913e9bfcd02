// Run one sh script in a running container through the engine's exec API, with a hard timeout:
// the script runs under `timeout -s KILL`, which on expiry kills its whole process group inside
// the container (a forked ping or tcpdump does not outlive its step). A client-side backstop
// gives up on an engine that stops answering.
import { PassThrough, Writable } from 'node:stream'
import type Dockerode from 'dockerode'
import type { ShellTransport } from '../../shell-server.ts'

export interface ContainerExecResult {
  exitCode: number
  stdout: string
  stderr: string
  ms: number
  timedOut?: boolean
}

/** Exit status of `timeout -s KILL` once it has killed its group (itself included): 128 + 9. */
const KILLED_BY_TIMEOUT = 137
/** How long past the timeout the client waits for the engine before giving up on it. */
const ENGINE_GRACE_MS = 10_000

export async function execInContainer(
  container: Dockerode.Container,
  script: string,
  opts: { timeoutMs: number; input?: string; /** false for images that may lack `timeout` */ killInside?: boolean },
): Promise<ContainerExecResult> {
  const started = performance.now()
  const seconds = (Math.max(opts.timeoutMs, 1) / 1000).toFixed(3)
  const withStdin = opts.input !== undefined
  const exec = await container.exec({
    Cmd: opts.killInside === false ? ['sh', '-c', script] : ['timeout', '-s', 'KILL', seconds, 'sh', '-c', script],
    AttachStdin: withStdin,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
  })
  const stream = await exec.start({ hijack: true, stdin: withStdin })
  const stdout: Buffer[] = []
  const stderr: Buffer[] = []
  const collect = (into: Buffer[]) => new Writable({ write(chunk: Buffer, _enc, done) { into.push(chunk); done() } })
  container.modem.demuxStream(stream, collect(stdout), collect(stderr))

  let engineGaveNoAnswer = false
  await new Promise<void>((resolve) => {
    const backstop = setTimeout(() => {
      engineGaveNoAnswer = true
      ;(stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.()
      resolve()
    }, opts.timeoutMs + ENGINE_GRACE_MS)
    const finish = () => { clearTimeout(backstop); resolve() }
    stream.on('end', finish)
    stream.on('close', finish)
    stream.on('error', finish)
    if (withStdin) {
      const writable = stream as unknown as NodeJS.WritableStream
      writable.write(opts.input!)
      writable.end() // half-close: the script sees end of input
    }
  })
  const ms = Math.round(performance.now() - started)
  const out = Buffer.concat(stdout).toString()
  const err = Buffer.concat(stderr).toString()
  if (engineGaveNoAnswer) {
    return { exitCode: 124, stdout: out, stderr: `${err}labproof: the docker engine did not finish this exec ${ENGINE_GRACE_MS} ms past its timeout\n`, ms, timedOut: true }
  }
  const exitCode = await exitCodeOf(exec)
  // Killed by our timeout, not by something else: it ran for the whole timeout.
  if (exitCode === KILLED_BY_TIMEOUT && ms >= opts.timeoutMs) return { exitCode: 124, stdout: out, stderr: err, ms, timedOut: true }
  return { exitCode, stdout: out, stderr: err, ms }
}

/** The stream can end a moment before the engine records the exit: ask until it has. */
async function exitCodeOf(exec: Dockerode.Exec): Promise<number> {
  for (let i = 0; ; i++) {
    const inspected = await exec.inspect()
    if (!inspected.Running && inspected.ExitCode !== null) return inspected.ExitCode
    if (i > 200) return -1
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** A long-lived exec for a container's command shell (shell-server.ts): its stdin carries the
 *  requests, its stdout the answers. */
export async function containerShellTransport(container: Dockerode.Container, cmd: string[]): Promise<ShellTransport> {
  const exec = await container.exec({ Cmd: cmd, AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: false })
  const stream = await exec.start({ hijack: true, stdin: true })
  const stdout = new PassThrough()
  const stderr: string[] = []
  container.modem.demuxStream(stream, stdout, new Writable({ write(chunk: Buffer, _enc, done) { stderr.push(String(chunk)); done() } }))
  const exited = new Promise<void>((resolve) => {
    stream.on('end', resolve)
    stream.on('close', resolve)
    stream.on('error', resolve)
  })
  void exited.then(() => stdout.end())
  return { stdin: stream as unknown as NodeJS.WritableStream, stdout, exited, stderr: () => stderr.join('') }
}
