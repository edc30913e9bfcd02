// The long-lived shell that runs a host's commands (netns and docker hosts), here as a local
// process on this machine: what happens when it cannot start, so a host falls back.
import { afterAll, describe, expect, test } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { PassThrough } from 'node:stream'
import { HostShell, SERVER_SCRIPT, SH_SERVER_SCRIPT, SHELL_DIR, ShellServer, spawnTransport, type ShellTransport } from '../../harness/shell-server.ts'

const root = process.getuid?.() === 0
const perl = spawnSync('sh', ['-c', 'command -v perl']).status === 0

// Both servers: Perl's where the host has perl (SERVER_SCRIPT), sh's where it has not.
/** A real server whose requests and answers pass through `tap`, which may SIGKILL it at a chosen
 *  moment (what the harness sees when a command kills its host's shell) or drop a line (a
 *  request or an answer lost on the way). */
function tappedTransport(script: string, tap: { request?: (line: string) => 'kill' | 'send' | 'drop'; answer?: (line: string) => 'kill' | 'send' | 'drop' }): ShellTransport {
  const child = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] })
  child.stdin.on('error', () => {})
  const stdout = new PassThrough()
  let dead = false
  const kill = () => {
    dead = true
    child.kill('SIGKILL')
  }
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (dead) return
    const verdict = tap.answer?.(line)
    if (verdict === 'drop') return
    if (verdict === 'kill') kill()
    stdout.write(`${line}\n`)
  })
  child.stdout.once('close', () => stdout.end())
  const stdin = new PassThrough()
  createInterface({ input: stdin }).on('line', (line) => {
    const verdict = tap.request?.(line)
    if (verdict === 'kill') kill()
    else if (verdict !== 'drop') child.stdin.write(`${line}\n`)
  })
  stdin.once('finish', () => child.stdin.end())
  const exited = new Promise<void>((resolve) => stdout.once('close', () => resolve()))
  return { stdin, stdout, exited, stderr: () => '' }
}

describe.skipIf(!root).each([
  ...(perl ? [{ server: 'perl', script: SERVER_SCRIPT }] : []),
  { server: 'sh', script: SH_SERVER_SCRIPT },
])('a host shell on this machine, the $server server (needs root: it writes to /run)', ({ server, script }) => {
  const local = () => spawnTransport('sh', ['-c', script])
  afterAll(async () => {
    await rm(SHELL_DIR, { recursive: true, force: true })
  })

  test('runs commands with input, output, errors and status', async () => {
    const shell = await ShellServer.start(local(), SHELL_DIR, 'this machine')
    expect(await shell.run('cat; echo oops >&2; exit 4', { timeoutMs: 5_000, input: 'in\n' })).toMatchObject({ stdout: 'in\n', stderr: 'oops\n', exitCode: 4 })
    expect(await shell.run('read x || echo "no input"', { timeoutMs: 5_000 })).toMatchObject({ stdout: 'no input\n', exitCode: 0 })
    shell.close()
    await shell.done
    expect(shell.alive).toBe(false)
  })

  test('a batch runs its commands one after another, each with its own input, output, status and timeout, until one fails its gate', async () => {
    const shell = await ShellServer.start(local(), SHELL_DIR, 'this machine')
    const batch = shell.runBatch([
      { script: 'echo one', gate: 0, timeoutMs: 5_000 },
      { script: 'cat; echo oops >&2; exit 4', input: 'in\n', gate: 4, timeoutMs: 5_000 },
      { script: 'read x || echo "no input"; exit 1', gate: 'nonzero', timeoutMs: 5_000 },
      { script: 'exit 2', gate: 'any', timeoutMs: 5_000 },
      { script: 'false', gate: 0, timeoutMs: 5_000 },
      { script: 'echo never', gate: 0, timeoutMs: 5_000 },
    ])
    expect(await Promise.all(batch.results)).toMatchObject([
      { stdout: 'one\n', stderr: '', exitCode: 0 },
      { stdout: 'in\n', stderr: 'oops\n', exitCode: 4 },
      { stdout: 'no input\n', exitCode: 1 },
      { exitCode: 2 },
      { exitCode: 1 },
      undefined,
    ])
    // A timeout kills the command (and its batch, whose next command does not run), keeping
    // its output so far; a stopped batch begins nothing more.
    const timed = shell.runBatch([{ script: 'echo before; sleep 10', gate: 'any', timeoutMs: 300 }, { script: 'echo never', gate: 'any', timeoutMs: 5_000 }])
    expect(await Promise.all(timed.results)).toMatchObject([{ exitCode: 124, timedOut: true, stdout: 'before\n', atTimeout: expect.stringMatching(/^pid \d+ sleep: sleeping/m) }, undefined])
    const stopped = shell.runBatch([{ script: 'sleep 0.3', gate: 0, timeoutMs: 5_000 }, { script: 'echo never', gate: 0, timeoutMs: 5_000 }])
    await stopped.stop()
    expect(await Promise.all(stopped.results)).toMatchObject([{ exitCode: 0 }, undefined])
    shell.close()
    await shell.done
  })

  test('a batch runs a plain command itself, as `sh FILE` would run it; a builtin still gets a shell of its own', async () => {
    const shell = await ShellServer.start(local(), SHELL_DIR, 'this machine')
    const batch = shell.runBatch([
      { script: 'cat', input: 'in\n', gate: 0, timeoutMs: 5_000 },
      { script: 'ls /labproof-no-such-path', gate: 'any', timeoutMs: 5_000 },
      { script: 'labproof-no-such-program --x', gate: 'any', timeoutMs: 5_000 },
      // Were these run by the batch's own shell, the batch would move to / and end here.
      { script: 'cd /', gate: 0, timeoutMs: 5_000 },
      { script: 'exit 3', gate: 3, timeoutMs: 5_000 },
      { script: 'pwd', gate: 0, timeoutMs: 5_000 },
    ])
    const [cat, ls, missing, cd, exit, pwd] = await Promise.all(batch.results)
    expect(cat).toMatchObject({ stdout: 'in\n', exitCode: 0 })
    expect(ls).toMatchObject({ stdout: '', exitCode: 2, stderr: expect.stringContaining('/labproof-no-such-path') })
    // What run-step.ts reads a missing tool from.
    expect(missing).toMatchObject({ exitCode: 127, stderr: expect.stringMatching(/^(?:\S+: )?(?:\d+: )?labproof-no-such-program: (?:command )?not found$/m) })
    expect([cd?.exitCode, exit?.exitCode]).toEqual([0, 3])
    expect(pwd?.stdout).not.toBe('/\n')
    shell.close()
    await shell.done
  })

  test('each command is a process group of its own, with SIGINT and SIGQUIT ignored as in any background job of sh; a timeout kills the group', async () => {
    const shell = await ShellServer.start(local(), SHELL_DIR, 'this machine')
    const r = await shell.run('read -r pid _ _ _ pgid _ < /proc/$$/stat; echo "$pid $pgid"; grep SigIgn /proc/$$/status', { timeoutMs: 5_000 })
    const [pid, pgid] = r.stdout.split('\n')[0]!.split(' ')
    expect(pgid).toBe(pid)
    expect(BigInt(`0x${/SigIgn:\s+([0-9a-f]+)/.exec(r.stdout)![1]}`) & 6n).toBe(6n)
    const timed = await shell.run('sleep 30 & echo $!; wait', { timeoutMs: 300 })
    expect(timed).toMatchObject({ exitCode: 124, timedOut: true })
    const child = Number(timed.stdout.trim())
    // Dead: gone, or a zombie its new parent has not reaped yet (this machine's init may be slow to).
    const dead = () => { try { return readFileSync(`/proc/${child}/stat`, 'utf8').split(') ')[1]!.startsWith('Z') } catch { return true } }
    await expect.poll(dead, { timeout: 5_000 }).toBe(true)
    shell.close()
    await shell.done
  })

  test('a timeout says what the command\'s processes were doing, read from /proc before they are killed', async () => {
    const shell = await ShellServer.start(local(), SHELL_DIR, 'this machine')
    const [spinning, sleeping] = await Promise.all([
      shell.run('while :; do :; done', { timeoutMs: 1_000 }),
      shell.run('sleep 30', { timeoutMs: 1_000 }),
    ])
    expect(spinning).toMatchObject({ exitCode: 124, timedOut: true, atTimeout: expect.stringMatching(/^pid \d+ sh: running, \d+\.\d\d s of CPU \(\d+\.\d\d s in the kernel\)/) })
    expect(sleeping.atTimeout).toMatch(/^pid \d+ sleep: sleeping, .*, waiting in \w+/m)
    shell.close()
    await shell.done
  })

  test('a timeout says which answer of the server never came: a lost request or a lost end', async () => {
    let requests = 0
    const shell = await ShellServer.start(tappedTransport(script, {
      request: (line) => (line.startsWith('run') && ++requests === 2 ? 'drop' : 'send'),
      answer: (line) => (line.startsWith('end ') ? 'drop' : 'send'),
    }), SHELL_DIR, 'a host')
    const [ended, unread] = await Promise.all([shell.run('true', { timeoutMs: 500 }), shell.run('true', { timeoutMs: 500 })])
    expect(ended).toMatchObject({ timedOut: true, atTimeout: expect.stringMatching(/^no process of its group \d+ was left, yet its end had not come back from a host's shell$/) })
    expect(unread).toMatchObject({ timedOut: true, atTimeout: "a host's shell never said it read the request" })
    shell.close()
    await shell.done
  }, 20_000)

  // Perl runs a signal's handler between its own steps: a SIGCHLD that came after the last one
  // and before the Perl server's select blocked woke nothing, and the command's end waited for
  // the next request (a soak run's step hung its 30 s so). Here SIGCHLD is blocked: it never
  // comes. (The sh server waits for each command with `wait`, which is sh's own business.)
  if (server === 'perl') test('a command\'s end comes back though the server never hears of it by a signal', async () => {
    const deaf = spawnTransport('perl', ['-MPOSIX', '-e', 'sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGCHLD)) or die; exec @ARGV', 'sh', '-c', script])
    const shell = await ShellServer.start(deaf, SHELL_DIR, 'this machine')
    expect(await shell.run('echo alone', { timeoutMs: 5_000 })).toMatchObject({ stdout: 'alone\n', exitCode: 0 })
    const [slow, fast] = await Promise.all([shell.run('sleep 0.3; echo slow', { timeoutMs: 5_000 }), shell.run('echo fast', { timeoutMs: 5_000 })])
    expect([slow.stdout, fast.stdout]).toEqual(['slow\n', 'fast\n'])
    const batch = shell.runBatch([{ script: 'echo one', gate: 0, timeoutMs: 5_000 }, { script: 'echo two', gate: 0, timeoutMs: 5_000 }])
    expect((await Promise.all(batch.results)).map((r) => r?.stdout)).toEqual(['one\n', 'two\n'])
    shell.close()
    await shell.done
  }, 20_000)

  test('refuses to start when its files are out of reach from here', async () => {
    await expect(ShellServer.start(local(), '/nonexistent/labproof-exec', 'a remote engine')).rejects.toThrow(
      'could not start a shell in a remote engine: /nonexistent/labproof-exec is not reachable from this machine')
  })

  test('refuses to start in a host without setsid (no process group per command)', async () => {
    await expect(ShellServer.start(spawnTransport('env', ['PATH=/nonexistent', '/bin/sh', '-c', script]), SHELL_DIR, 'a bare image'))
      .rejects.toThrow('could not start a shell in a bare image: it said "no setsid in this host"')
  })

  test('a host whose shell cannot start is not asked again: it runs its commands its own way', async () => {
    let starts = 0
    const host = new HostShell(() => {
      starts++
      return ShellServer.start(local(), '/nonexistent/labproof-exec', 'x')
    })
    expect(await host.server()).toBeUndefined()
    expect(await host.server()).toBeUndefined()
    expect(starts).toBe(1)
  })

  test('a shell that died is started again by the next command', async () => {
    let starts = 0
    const host = new HostShell(() => {
      starts++
      return ShellServer.start(local(), SHELL_DIR, 'this machine')
    })
    const first = (await host.server())!
    first.close()
    await host.gone()
    const second = (await host.server())!
    expect(second).not.toBe(first)
    expect(await second.run('echo again', { timeoutMs: 5_000 })).toMatchObject({ stdout: 'again\n', exitCode: 0 })
    expect(starts).toBe(2)
    second.close()
  })

  test('a command is sent again to a new server only when the old one died before it read it: never run twice', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'labproof-shell-'))
    const count = path.join(dir, 'runs')
    const command = `echo ran >> ${count}`
    const runs = async () => (await readFile(count, 'utf8').catch(() => '')).split('\n').filter(Boolean).length
    // Killed before it read the request (no `got`): the command never began, and a new server runs it.
    let starts = 0
    const unread = new HostShell(() => ShellServer.start(
      starts++ === 0 ? tappedTransport(script, { request: (line) => (line.startsWith('run0 ') ? 'kill' : 'send') }) : local(),
      SHELL_DIR, 'this machine'))
    expect(await unread.run(command, { timeoutMs: 5_000 })).toMatchObject({ exitCode: 0 })
    expect(starts).toBe(2)
    expect(await runs()).toBe(1)
    ;(await unread.server())?.close()
    // Killed once it had read it (`got`), between its fork and its `pid` line or after: the
    // command may have begun, so it is not sent again; the step sees the host's shell gone.
    await rm(count, { force: true })
    starts = 0
    const read = new HostShell(() => ShellServer.start(
      starts++ === 0 ? tappedTransport(script, { answer: (line) => (line.startsWith('got ') ? 'kill' : 'send') }) : local(),
      SHELL_DIR, 'this machine'))
    const result = await read.run(command, { timeoutMs: 5_000 })
    expect(result).toMatchObject({ exitCode: 137 })
    expect(result?.stderr).toContain('this machine is gone: its shell exited while the command ran')
    expect(starts).toBe(1)
    expect(await runs()).toBeLessThanOrEqual(1)
    await rm(dir, { recursive: true, force: true })
  })
})
