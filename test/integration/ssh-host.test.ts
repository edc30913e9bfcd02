// The ssh transport against a real OpenSSH server: one sshd started here, in a network
// namespace made here (a netns-backend node), reached over a veth pair with a private /30.
// Nothing else is linked to that namespace, so no packet can leave the machine.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { killNode, startNode, type NodeProcess } from '../../harness/backends/shared/namespace-node.ts'
import { connectSsh, connectSshHost, sshFingerprint, type SshConnectOptions, type SshHost } from '../../harness/backends/shared/ssh-host.ts'
import { runProcess } from '../../harness/local-process.ts'
import { processes } from '../helpers/leftovers.ts'
import { describeWithEngine } from '../helpers/engines.ts'
import { waitUntil } from '../helpers/wait.ts'

const SSHD = '/usr/sbin/sshd'
const skipReason = process.getuid?.() !== 0
  ? 'needs root (a network namespace and a veth pair)'
  : !existsSync(SSHD) ? 'needs openssh-server (/usr/sbin/sshd)'
    : spawnSync('sh', ['-c', 'command -v ssh-keygen']).status !== 0 ? 'needs ssh-keygen (openssh-client)' : undefined

describeWithEngine(process.getuid?.() !== 0 ? 'root' : 'sshd', skipReason, 'ssh transport against a real sshd', () => {
  const suffix = randomBytes(3).toString('hex')
  const outside = `lps${suffix}` // the root-namespace end of the veth
  const octet = 4 * (1 + (randomBytes(1)[0]! % 60))
  const clientAddress = `10.250.${randomBytes(1)[0]! % 250}.${octet + 1}`
  const serverAddress = clientAddress.replace(/\d+$/, String(octet + 2))
  let dir: string
  let node: NodeProcess | undefined
  let sshd: ChildProcess | undefined
  let sshdLog = ''
  let privateKey: Buffer
  let otherKey: Buffer
  let hostKeySha256: string
  let execHost: SshHost
  let sessionHost: SshHost

  const options = (over: Partial<SshConnectOptions> = {}): SshConnectOptions => ({
    host: serverAddress, port: 22, username: 'root', privateKey, hostKeySha256, readyTimeoutMs: 10_000, ...over,
  })

  async function must(what: string, file: string, args: string[]) {
    const r = await runProcess(file, args, { timeoutMs: 20_000 })
    if (r.exitCode !== 0) throw new Error(`${what}: ${file} ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`)
    return r.stdout
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'labproof-ssh-test-'))
    for (const k of ['host_key', 'client_key', 'other_key']) {
      await must('ssh-keygen', 'ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `labproof-test-${k}`, '-f', join(dir, k)])
    }
    privateKey = await readFile(join(dir, 'client_key'))
    otherKey = await readFile(join(dir, 'other_key'))
    await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'client_key.pub')), { mode: 0o600 })
    hostKeySha256 = (await must('ssh-keygen -l', 'ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'host_key.pub')])).split(/\s+/)[1]!
    await writeFile(join(dir, 'sshd_config'), [
      `ListenAddress ${serverAddress}:22`, `HostKey ${join(dir, 'host_key')}`, `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PidFile none', 'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
      'UsePAM no', 'UseDNS no', 'StrictModes no', 'Subsystem sftp /usr/lib/openssh/sftp-server', '',
    ].join('\n'))

    node = await startNode(`sshtest${suffix}`, 'sshd-test')
    await must('veth', 'ip', ['link', 'add', outside, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(node.innerPid)])
    await must('address', 'ip', ['addr', 'add', `${clientAddress}/30`, 'dev', outside])
    await must('up', 'ip', ['link', 'set', outside, 'up'])
    await must('inside', 'nsenter', ['-t', String(node.innerPid), '-n', '-m', '--', 'sh', '-c',
      `ip addr add ${serverAddress}/30 dev eth0 && ip link set eth0 up && mkdir -p /run/sshd`])
    // sshd enters the node's network, mount (its /run holds /run/sshd) and UTS namespaces.
    sshd = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'nsenter', '-t', String(node.innerPid), '-n', '-m', '-u', '--',
      SSHD, '-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] })
    // Ready once it says it listens (-e: its log on stderr); an exit before that is a failure.
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`sshd did not start (exit ${code}):\n${sshdLog}`))
      sshd!.once('exit', onExit)
      sshd!.stderr!.on('data', (d) => {
        sshdLog += String(d)
        if (/Server listening on \S+ port 22/.test(sshdLog)) {
          sshd!.off('exit', onExit)
          resolve()
        }
      })
    })
    execHost = await connectSshHost('student', options())
    sessionHost = await connectSshHost('student', { ...options(), session: true })
  })

  afterAll(async () => {
    execHost?.close()
    sessionHost?.close()
    if (sshd && sshd.exitCode === null) {
      const gone = new Promise((r) => sshd!.once('exit', r))
      sshd.kill('SIGKILL') // by its PID: the one sshd this test started
      await gone
    }
    await runProcess('ip', ['link', 'del', outside], { timeoutMs: 5_000 })
    if (node) await killNode(node)
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  // The same guarantees with each command as its own exec channel (grading) and through one
  // long-lived shell session (the lab's VMs).
  for (const mode of ['exec', 'session'] as const) describe(`each command ${mode === 'exec' ? 'as its own exec channel' : 'through one session'}`, () => {
    const host = () => (mode === 'exec' ? execHost : sessionHost)

    test('the host runs its commands the way asked', async () => {
      expect(await host().transport()).toBe(mode)
    })

    test('exec returns exit code, stdout and stderr separately; never throws on non-zero', async () => {
      const r = await host().exec('echo out; echo err >&2; exit 3')
      expect(r).toMatchObject({ host: 'student', exitCode: 3, stdout: 'out\n', stderr: 'err\n' })
      expect(r.timedOut).toBeUndefined()
      expect((await host().succeed('hostname')).trim()).toBe('sshd-test')
      await expect(host().succeed('false')).rejects.toThrow(/expected the command to succeed on student, it exited 1/)
    })

    test('input goes to the command on stdin; a command reading stdin without input sees EOF', async () => {
      expect((await host().exec('tr a-z A-Z', { input: 'hello\nworld\n' })).stdout).toBe('HELLO\nWORLD\n')
      const r = await host().exec('cat; echo done', { timeoutMs: 5_000 })
      expect(r).toMatchObject({ exitCode: 0, stdout: 'done\n' })
    })

    test('a timeout kills the remote command and every process it started, and says it timed out', async () => {
      const marker = `${Date.now() % 100000}.5`
      const r = await host().exec(`sleep ${marker} & sleep ${marker}; echo never`, { timeoutMs: 1_000 })
      expect(r).toMatchObject({ exitCode: 124, timedOut: true, stdout: '' })
      expect(r.stderr).toBe('')
      // Both sleeps (the foreground one and its background sibling) are gone.
      const left = await host().exec(`ps -eo args | grep -c '^sleep ${marker}$'`)
      expect(left.stdout.trim()).toBe('0')
    })

    test('a timed-out command keeps what it wrote before the timeout, on both streams', async () => {
      const marker = `${Date.now() % 100000}.25`
      const r = await host().exec(`echo before; echo partial >&2; sleep ${marker}; echo never`, { timeoutMs: 1_000 })
      expect(r).toMatchObject({ exitCode: 124, timedOut: true, stdout: 'before\n', stderr: 'partial\n' })
    })

    test('a command that leaves a background job returns at its exit, not at its timeout', async () => {
      const r = await host().exec('sleep 30 & echo $!', { timeoutMs: 10_000 })
      expect(r.exitCode).toBe(0)
      expect(r.stdout).toMatch(/^\d+\n$/)
      expect(r.timedOut).toBeUndefined()
      await host().succeed(`kill ${r.stdout.trim()}`)
    })

    test('many commands at once share the one connection (more than sshd\'s 10 sessions)', async () => {
      const results = await Promise.all(Array.from({ length: 24 }, (_, i) => host().exec(`sleep 0.2; echo ${i}`)))
      expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 24 }, (_, i) => String(i)))
      expect(results.every((r) => r.exitCode === 0)).toBe(true)
    })

    test('output without a final newline, on both streams, comes whole with its exit status', async () => {
      const r = await host().exec('printf out; printf err >&2; exit 3')
      expect(r).toMatchObject({ exitCode: 3, stdout: 'out', stderr: 'err' })
    })

    test('many rounds of commands at once: every output arrives whole, not only the exit status', async () => {
      for (let round = 0; round < 5; round++) {
        const results = await Promise.all(Array.from({ length: 24 }, (_, i) => host().exec(`echo ${round}-${i}; echo e${i} >&2`)))
        expect(results.map((r) => [r.stdout, r.stderr])).toEqual(Array.from({ length: 24 }, (_, i) => [`${round}-${i}\n`, `e${i}\n`]))
      }
    })

  })

  // A command's shell is started by its watcher, a fork of the session's server (perl); as an
  // exec, by the wrapper that sshd's shell starts for it alone. Its grandparent, as this
  // machine sees it (sshd runs in a PID namespace of its own), says which.
  const shellOf = (script: string) => processes().find((p) => p.argv.slice(0, 3).join('\0') === ['sh', '-c', script].join('\0'))
  const serverOf = async (h: SshHost) => {
    const script = `sleep 30; : ${randomBytes(4).toString('hex')}`
    const running = h.exec(script, { timeoutMs: 60_000 })
    await waitUntil(`${script} to run`, () => processes().some((p) => p.comm === 'sleep' && p.ppid === shellOf(script)?.pid))
    const all = processes()
    const shell = shellOf(script)!
    const server = all.find((p) => p.pid === all.find((w) => w.pid === shell.ppid)?.ppid)!
    process.kill(all.find((p) => p.comm === 'sleep' && p.ppid === shell.pid)!.pid, 'SIGKILL') // the sleep this test started
    await running
    return server
  }

  test('a session runs every command under one server; exec starts each command alone', async () => {
    const servers = async (h: SshHost) => Promise.all(Array.from({ length: 5 }, () => serverOf(h)))
    const viaSession = await servers(sessionHost)
    expect(new Set(viaSession.map((p) => p.pid)).size).toBe(1)
    expect(viaSession[0]!.comm).toBe('perl')
    const viaExec = await servers(execHost)
    expect(new Set(viaExec.map((p) => p.pid)).size).toBe(5)
    expect(viaExec.map((p) => p.comm)).not.toContain('perl')
  })

  test('a plain command is the watcher\'s own exec, no sh between; a missing program still gets sh\'s 127 and "not found"', async () => {
    for (const run of [(cmd: string) => sessionHost.exec(cmd, { timeoutMs: 60_000 }), (cmd: string) => sessionHost.execBatch([{ cmd, goOn: 0, timeoutMs: 60_000 }]).results[0]!]) {
      const seconds = `${30 + randomBytes(1)[0]!}`
      const running = run(`sleep ${seconds}`)
      await waitUntil(`sleep ${seconds} to run`, () => processes().some((p) => p.argv.join(' ') === `sleep ${seconds}`))
      const all = processes()
      const sleep = all.find((p) => p.argv.join(' ') === `sleep ${seconds}`)!
      // Its parent is the watcher (perl), whose parent is the server (perl).
      const watcher = all.find((p) => p.pid === sleep.ppid)!
      expect([watcher.comm, all.find((p) => p.pid === watcher.ppid)?.comm]).toEqual(['perl', 'perl'])
      process.kill(sleep.pid, 'SIGKILL') // the sleep this test started
      expect((await running)?.exitCode).toBe(137)
      const missing = await run('labproof-no-such-program --flag')
      expect(missing?.exitCode).toBe(127)
      expect(missing?.stderr).toMatch(/labproof-no-such-program: not found/)
    }
    expect((await sessionHost.exec('printf %s,%s a b')).stdout).toBe('a,b')
  })

  test('a batch runs in one request: each command with its own output, status and input, the next only while the gate lets it', async () => {
    const batch = sessionHost.execBatch([
      { cmd: 'echo one; echo e1 >&2', goOn: 0 },
      { cmd: 'tr a-z A-Z', input: 'two\n', goOn: 0 },
      { cmd: 'printf three; exit 3', goOn: 'nonzero' },
      { cmd: 'exit 4', goOn: 0 },
      { cmd: 'echo never', goOn: 'any' },
    ])
    const results = await Promise.all(batch.results)
    expect(results.slice(0, 4).map((r) => [r?.exitCode, r?.stdout, r?.stderr])).toEqual([[0, 'one\n', 'e1\n'], [0, 'TWO\n', ''], [3, 'three', ''], [4, '', '']])
    expect(results[4]).toBeUndefined()
    // One request: the batch's commands share one watcher (their parent), where commands sent
    // one by one have one each.
    const parents = async (rs: Promise<{ stdout: string } | undefined>[]) => new Set((await Promise.all(rs)).map((r) => r?.stdout))
    expect((await parents(sessionHost.execBatch(Array(3).fill({ cmd: 'echo $PPID', goOn: 0 })).results)).size).toBe(1)
    expect((await parents(Array.from({ length: 3 }, () => sessionHost.exec('echo $PPID')))).size).toBe(3)
  })

  test('a batch command that times out is killed with its children, keeps its output, and ends the batch', async () => {
    const marker = `${Date.now() % 100000}.75`
    const batch = sessionHost.execBatch([
      { cmd: 'echo first', goOn: 'any' },
      { cmd: `echo before; echo partial >&2; sleep ${marker} & sleep ${marker}`, timeoutMs: 1_000, goOn: 'any' },
      { cmd: 'echo never', goOn: 'any' },
    ])
    const [first, slow, never] = await Promise.all(batch.results)
    expect(first).toMatchObject({ exitCode: 0, stdout: 'first\n' })
    expect(slow).toMatchObject({ exitCode: 124, timedOut: true, stdout: 'before\n', stderr: 'partial\n' })
    expect(never).toBeUndefined()
    expect((await sessionHost.exec(`ps -eo args | grep -c '^sleep ${marker}$'`)).stdout.trim()).toBe('0')
  })

  test('a stopped batch begins none of its commands not begun; the one running finishes', async () => {
    const fifo = join('/tmp', `labproof-ssh-test-${suffix}-stop.fifo`)
    await sessionHost.succeed(`rm -f ${fifo}; mkfifo ${fifo}`)
    const batch = sessionHost.execBatch([
      { cmd: `read x < ${fifo}; echo "got $x"`, goOn: 'any' },
      { cmd: 'echo never', goOn: 'any' },
    ])
    const script = `read x < ${fifo}; echo "got $x"`
    await waitUntil('the first command to run', () => processes().some((p) => p.argv.slice(0, 3).join('\0') === ['sh', '-c', script].join('\0')))
    await batch.stop()
    await execHost.succeed(`echo it > ${fifo}; rm -f ${fifo}`)
    const [first, second] = await Promise.all(batch.results)
    expect(first).toMatchObject({ exitCode: 0, stdout: 'got it\n' })
    expect(second).toBeUndefined()
  })

  test('a session runs a script longer than an exec argument may be (128 KiB) whole', async () => {
    // A comment line of 200 000 bytes, then what must run: all of it arrived or nothing prints.
    const script = `#${'x'.repeat(200_000)}\necho "$((6 * 7))"; echo long >&2; exit 5`
    expect(await sessionHost.exec(script)).toMatchObject({ exitCode: 5, stdout: '42\n', stderr: 'long\n' })
  })

  test('a session keeps each command\'s bytes whole: header-like lines, 1 MiB, side by side', async () => {
    const big = 'head -c 1048576 /dev/zero | tr "\\0" x'
    const [a, b, c] = await Promise.all([
      sessionHost.exec(`printf 'end x 0 5 5\\nrun y 1 -\\n'; printf 'ready\\n' >&2`),
      sessionHost.exec(`${big}; ${big} >&2; exit 7`),
      sessionHost.exec('printf "%s" "$(cat)"', { input: 'end z 0 0 0\nthe input' }),
    ])
    expect(a).toMatchObject({ exitCode: 0, stdout: 'end x 0 5 5\nrun y 1 -\n', stderr: 'ready\n' })
    expect([b!.exitCode, b!.stdout.length, b!.stderr.length, /^x+$/.test(b!.stdout), /^x+$/.test(b!.stderr)]).toEqual([7, 1048576, 1048576, true, true])
    expect(c).toMatchObject({ exitCode: 0, stdout: 'end z 0 0 0\nthe input', stderr: '' })
  })

  test('what a background job writes after its command ended is not that command\'s, nor the next one\'s', async () => {
    const fifo = join('/tmp', `labproof-ssh-test-${suffix}.fifo`)
    await sessionHost.succeed(`rm -f ${fifo}; mkfifo ${fifo}`)
    // The job writes once the next command has opened the fifo: after its own command ended.
    const first = await sessionHost.exec(`{ read x < ${fifo}; echo late; echo late >&2; } & echo now`)
    expect(first).toMatchObject({ exitCode: 0, stdout: 'now\n', stderr: '' })
    const second = await sessionHost.exec(`echo go > ${fifo}; sleep 0.2; echo next`)
    expect(second).toMatchObject({ exitCode: 0, stdout: 'next\n', stderr: '' })
    await sessionHost.succeed(`rm -f ${fifo}`)
  })

  test('a session whose shell dies still returns its running command\'s result, and the next command starts a new one', async () => {
    const h = await connectSshHost('student', { ...options(), session: true })
    try {
      const server = (await serverOf(h)).pid
      const fifo = join('/tmp', `labproof-ssh-test-${suffix}-dies.fifo`)
      await execHost.succeed(`rm -f ${fifo}; mkfifo ${fifo}`)
      const script = `read x < ${fifo}; echo "got $x"`
      const running = h.exec(script, { timeoutMs: 60_000 })
      await waitUntil('the command to run', () => processes().some((p) => p.argv.slice(0, 3).join('\0') === ['sh', '-c', script].join('\0')))
      process.kill(server, 'SIGKILL') // the session's server, by its PID
      // sshd says the shell exited (a request written before that is lost with it); the next
      // command goes to a new session while the old one's command still runs.
      await waitUntil('the session to see its shell exit', async () => !(await h.sessionAlive()))
      const again = await serverOf(h)
      expect(again.comm).toBe('perl')
      expect(again.pid).not.toBe(server)
      await execHost.succeed(`echo it > ${fifo}`)
      expect(await running).toMatchObject({ exitCode: 0, stdout: 'got it\n', stderr: '' })
      await execHost.succeed(`rm -f ${fifo}`)
    } finally {
      h.close()
    }
  })

  test('a command running in a session when the connection goes ends at once with exit 255, not at its timeout', async () => {
    const h = await connectSshHost('student', { ...options(), session: true })
    const seconds = `300.${randomBytes(3).readUIntBE(0, 3)}`
    const running = h.exec(`sleep ${seconds}`, { timeoutMs: 60_000 })
    try {
      await waitUntil(`sleep ${seconds} to run`, () => processes().some((p) => p.argv.join(' ') === `sleep ${seconds}`))
      h.connection.close()
      const r = await running
      expect(r.exitCode).toBe(255)
      expect(r.timedOut).toBeUndefined()
      expect(r.ms).toBeLessThan(60_000) // not at its timeout
      expect(r.stderr).toMatch(/session's channel closed while the command ran/)
    } finally {
      // The sleep outlives its session (setsid): end it by its PID.
      for (const p of processes().filter((p) => p.argv.join(' ') === `sleep ${seconds}`)) process.kill(p.pid, 'SIGKILL')
      h.close()
    }
  })

  test('a host that cannot hold a session (no perl) runs each command as an exec', async () => {
    // A PATH with the shell and its tools but no perl, through the command prefix.
    const bin = join(dir, 'bin-without-perl')
    await execHost.succeed(`mkdir -p ${bin} && for t in sh setsid stat head ps; do ln -sf "$(command -v $t)" ${bin}/$t; done`)
    const h = await connectSshHost('student', { ...options({ commandPrefix: `env PATH=${bin}` }), session: true })
    try {
      expect(await h.transport()).toBe('exec')
      expect(await h.exec('echo fine; exit 4')).toMatchObject({ exitCode: 4, stdout: 'fine\n', stderr: '' })
    } finally {
      h.close()
    }
  })

  test('a server that allows fewer sessions than asked for: refused channels wait and run, none fails', async () => {
    // This sshd keeps its default MaxSessions of 10; ask for 24 channels at once.
    const conn = await connectSsh(options({ maxChannels: 24 }))
    try {
      const results = await Promise.all(Array.from({ length: 24 }, (_, i) => conn.run(`sleep 0.3; echo ${i}`, { timeoutMs: 30_000 })))
      expect(results.map((r) => [r.exitCode, r.stdout, r.stderr])).toEqual(Array.from({ length: 24 }, (_, i) => [0, `${i}\n`, '']))
    } finally {
      conn.close()
    }
  })

  test('copyFrom brings a binary file home over SFTP byte for byte', async () => {
    const remote = join(dir, 'remote.bin')
    const local = join(dir, 'local.bin')
    // Every byte value, then 2 MiB of random data: more than one SFTP read.
    await sessionHost.succeed(`{ i=0; while [ $i -lt 256 ]; do printf "\\\\$(printf %o $i)"; i=$((i + 1)); done; head -c 2097152 /dev/urandom; } > ${remote}`)
    const remoteSum = (await sessionHost.succeed(`sha256sum ${remote}`)).split(' ')[0]
    await sessionHost.copyFrom(remote, local)
    const data = await readFile(local)
    expect(data.length).toBe(256 + 2097152)
    expect([...data.subarray(0, 256)]).toEqual(Array.from({ length: 256 }, (_, i) => i))
    expect(createHash('sha256').update(data).digest('hex')).toBe(remoteSum)
    await expect(sessionHost.copyFrom('/nonexistent/file', local)).rejects.toThrow(/could not copy root@.*:22:\/nonexistent\/file .* over SFTP/)
  })

  test('the host key fingerprint is the one OpenSSH prints', async () => {
    const blob = Buffer.from((await readFile(join(dir, 'host_key.pub'), 'utf8')).split(' ')[1]!, 'base64')
    expect(sshFingerprint(blob)).toBe(hostKeySha256)
  })

  test('a wrong or missing host key pin is refused, naming the fingerprint to pin', async () => {
    const wrong = 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU'
    const mismatch = await connectSsh(options({ hostKeySha256: wrong })).then(() => 'connected', (e: Error) => e.message)
    expect(mismatch).toContain('host key verification failed')
    expect(mismatch).toContain(hostKeySha256)
    expect(mismatch).toContain(wrong)
    const unknown = await connectSsh(options({ hostKeySha256: undefined })).then(() => 'connected', (e: Error) => e.message)
    expect(unknown).toMatch(new RegExp(`host key ${escape(hostKeySha256)} is unknown, refusing`))
    expect(unknown).toContain(`${serverAddress}:22`)
  })

  test('a wrong identity is refused clearly, and no key material appears in the message', async () => {
    const msg = await connectSsh(options({ privateKey: otherKey })).then(() => 'connected', (e: Error) => e.message)
    expect(msg).toBe(`ssh root@${serverAddress}:22: authentication refused for user "root" with the given identity ` +
      '(the server accepted none of: publickey); check that the identity\'s public key is in ~root/.ssh/authorized_keys there')
    const garbage = await connectSsh(options({ privateKey: 'not a key' })).then(() => 'connected', (e: Error) => e.message)
    expect(garbage).toMatch(/cannot use the given identity/)
    for (const m of [msg, garbage]) {
      expect(m).not.toMatch(/PRIVATE KEY|b3BlbnNzaC1rZXk/) // "openssh-key" in base64: the key's body
    }
  })

  test('an address with nothing listening is an error naming host:port', async () => {
    const closedPort = 2
    const msg = await connectSsh(options({ port: closedPort })).then(() => 'connected', (e: Error) => e.message)
    expect(msg).toContain(`cannot reach ${serverAddress}:${closedPort} (ECONNREFUSED`)
  })

  test('connects through a given stream (sock) as well', async () => {
    const sock = connect(22, serverAddress)
    const conn = await connectSsh(options({ sock }))
    try {
      const r = await conn.run('echo via-sock', { timeoutMs: 5_000 })
      expect(r).toMatchObject({ exitCode: 0, stdout: 'via-sock\n' })
    } finally {
      conn.close()
    }
  })

  test('a command running when the connection goes ends at once with exit 255, not at its timeout', async () => {
    const conn = await connectSsh(options())
    // A duration no other sleep has: the close comes once this one is seen running.
    const seconds = `300.${randomBytes(3).readUIntBE(0, 3)}`
    const running = conn.run(`sleep ${seconds}`, { timeoutMs: 60_000 })
    await waitUntil(`sleep ${seconds} to run under sshd`, () => processes().some((p) => p.argv.join(' ') === `sleep ${seconds}`))
    conn.close()
    const r = await running
    expect(r.exitCode).toBe(255)
    expect(r.timedOut).toBeUndefined()
    expect(r.ms).toBeLessThan(60_000) // not at its timeout
    expect(r.stderr).toMatch(/closed without an exit status \(closed by labproof\)/)
  })

  test('after close(), commands fail with a clear message instead of hanging', async () => {
    const conn = await connectSsh(options())
    conn.close()
    const r = await conn.run('true', { timeoutMs: 5_000 })
    expect(r.exitCode).toBe(255)
    expect(r.stderr).toMatch(/closed by labproof/)
  })
})

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}
