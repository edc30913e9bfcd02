// The machine a grade is taken from: `ssh://user@host[:port]` (ssh2, host key verified),
// `local` (this machine) or `docker:CONTAINER` (a running container, through the engine).
// A target string never carries a password; messages never carry key material.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import path from 'node:path'
import { BaseHost } from '../base-host.ts'
import type { Host } from '../host.ts'
import { runProcess } from '../local-process.ts'
import { connectSsh, SshHost, type SshConnection } from '../backends/shared/ssh-host.ts'
import { trustedFingerprints } from './known-hosts.ts'

export type TargetSpec =
  | { kind: 'local' }
  | { kind: 'docker'; container: string }
  | { kind: 'ssh'; user: string; host: string; port: number }

export const TARGET_FORMS = 'ssh://user@host[:port], local, or docker:CONTAINER'

export class TargetError extends Error {}

export function parseTarget(text: string): TargetSpec {
  const t = text.trim()
  if (t === 'local') return { kind: 'local' }
  if (t.startsWith('docker:')) {
    const container = t.slice('docker:'.length)
    if (!/^[\w][\w.-]*$/.test(container)) throw new TargetError(`"${t}" is not a docker target: docker:CONTAINER names a running container`)
    return { kind: 'docker', container }
  }
  if (t.startsWith('ssh://')) {
    let url: URL
    try {
      url = new URL(t)
    } catch {
      throw new TargetError(`"${redactTarget(t)}" is not a valid ssh target; the forms are ${TARGET_FORMS}`)
    }
    if (url.password) throw new TargetError(`${redactTarget(t)}: passwords are not accepted in a target; give the key with --identity (or the identity column)`)
    if (!url.username) throw new TargetError(`${redactTarget(t)}: name the user, ssh://user@host`)
    if (url.pathname && url.pathname !== '/') throw new TargetError(`${redactTarget(t)}: an ssh target has no path`)
    return { kind: 'ssh', user: decodeURIComponent(url.username), host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port ? Number(url.port) : 22 }
  }
  throw new TargetError(`"${redactTarget(t)}" is not a target; the forms are ${TARGET_FORMS}`)
}

/** A target as written, with any password in it replaced: safe for messages and reports. */
export function redactTarget(text: string): string {
  return text.replace(/^(ssh:\/\/[^:@/]*):[^@/]*@/, '$1:***@')
}

export function formatTarget(spec: TargetSpec): string {
  switch (spec.kind) {
    case 'local': return 'local'
    case 'docker': return `docker:${spec.container}`
    case 'ssh': return `ssh://${spec.user}@${spec.host.includes(':') ? `[${spec.host}]` : spec.host}${spec.port === 22 ? '' : `:${spec.port}`}`
  }
}

export interface ConnectOptions {
  /** The role the machine plays in the scenario: host01 or host02. */
  role: string
  /** Private key file for ssh targets (its content is read, never shown). */
  identityFile?: string
  passphrase?: string
  /** OpenSSH known_hosts; default ~/.ssh/known_hosts when it exists. */
  knownHostsFile?: string
  /** Pinned host key fingerprints ("SHA256:…"); when given, known_hosts is not consulted. */
  hostKeySha256?: string[]
  /** Where the pins come from, for messages (default --host-key-sha256). */
  hostKeySource?: string
  /** Run every command through `sudo -n` (a non-root login with passwordless sudo). */
  sudo?: boolean
  connectTimeoutMs: number
}

export interface ConnectedMachine {
  host: Host
  /** What was connected to and how it was verified, for the report. */
  description: string
  /** Set when the machine can no longer be used (the connection dropped). */
  lostBecause(): string | undefined
  close(): Promise<void>
}

export async function connectTarget(spec: TargetSpec, opts: ConnectOptions): Promise<ConnectedMachine> {
  switch (spec.kind) {
    case 'local': return connectLocal(opts)
    case 'docker': return connectDocker(spec.container, opts)
    case 'ssh': return connectSshTarget(spec, opts)
  }
}

class LocalHost extends BaseHost {
  constructor(name: string, private readonly sudo: boolean) {
    super(name)
  }

  protected runShell(script: string, opts: { timeoutMs: number; input?: string }) {
    return this.sudo ? runProcess('sudo', ['-n', 'sh', '-c', script], opts) : runProcess('sh', ['-c', script], opts)
  }

  copyFrom(): Promise<void> {
    return Promise.reject(new Error('grading copies nothing from the machine'))
  }
}

function connectLocal(opts: ConnectOptions): ConnectedMachine {
  return {
    host: new LocalHost(opts.role, Boolean(opts.sudo)),
    description: `this machine${opts.sudo ? ' (through sudo -n)' : ''}`,
    lostBecause: () => undefined,
    close: async () => {},
  }
}

async function connectDocker(name: string, opts: ConnectOptions): Promise<ConnectedMachine> {
  // Loaded only for docker targets: ssh and local grading never load testcontainers.
  const { dockerClient } = await import('../backends/docker/docker-image.ts')
  const { execInContainer } = await import('../backends/docker/docker-exec.ts')
  const docker = await dockerClient()
  const container = docker.getContainer(name)
  let running: boolean
  try {
    running = (await container.inspect()).State.Running
  } catch (e) {
    throw new TargetError(`docker:${name}: no such container (${(e as Error).message.split('\n')[0]})`)
  }
  if (!running) throw new TargetError(`docker:${name}: the container is not running`)
  class ContainerHost extends BaseHost {
    protected runShell(script: string, o: { timeoutMs: number; input?: string }) {
      return execInContainer(container, script, o)
    }

    copyFrom(): Promise<void> {
      return Promise.reject(new Error('grading copies nothing from the machine'))
    }
  }
  return {
    host: new ContainerHost(opts.role),
    description: `docker container ${name}`,
    lostBecause: () => undefined,
    close: async () => {},
  }
}

async function connectSshTarget(spec: Extract<TargetSpec, { kind: 'ssh' }>, opts: ConnectOptions): Promise<ConnectedMachine> {
  const where = formatTarget(spec)
  if (!opts.identityFile) throw new TargetError(`${where}: no identity: give the private key file with --identity (or the identity column)`)
  let privateKey: Buffer
  try {
    privateKey = await readFile(opts.identityFile)
  } catch (e) {
    throw new TargetError(`${where}: cannot read the identity file ${opts.identityFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
  // The most specific pin wins: a fingerprint given for this machine (the CSV's host_key_sha256,
  // or --host-key-sha256), and only without one the known_hosts file.
  const pins = [...(opts.hostKeySha256 ?? [])]
  const defaultKnownHosts = path.join(homedir(), '.ssh', 'known_hosts')
  const knownHostsFile = pins.length ? undefined : opts.knownHostsFile ?? (existsSync(defaultKnownHosts) ? defaultKnownHosts : undefined)
  if (knownHostsFile) {
    let text: string
    try {
      text = await readFile(knownHostsFile, 'utf8')
    } catch (e) {
      throw new TargetError(`${where}: cannot read the known hosts file ${knownHostsFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
    }
    pins.push(...trustedFingerprints(text, spec.host, spec.port).map((k) => k.fingerprint))
  }
  const trustedBy = opts.hostKeySha256?.length ? (opts.hostKeySource ?? '--host-key-sha256') : knownHostsFile ?? 'no known_hosts file'
  let connection: SshConnection
  try {
    connection = await connectSsh({
      host: spec.host,
      port: spec.port,
      username: spec.user,
      privateKey,
      ...(opts.passphrase ? { passphrase: opts.passphrase } : {}),
      hostKeySha256: pins,
      readyTimeoutMs: opts.connectTimeoutMs,
      ...(opts.sudo ? { commandPrefix: 'sudo -n' } : {}),
    })
  } catch (e) {
    throw new TargetError(hostKeyMessage((e as Error).message, where, trustedBy, pins.length > 0) ?? (e as Error).message)
  }
  const verifiedBy = opts.hostKeySha256?.length ? `the fingerprint pinned by ${trustedBy}` : knownHostsFile!
  return {
    host: new SshHost(opts.role, connection),
    description: `${where} over SSH, host key verified against ${verifiedBy}${opts.sudo ? ', commands through sudo -n' : ''}`,
    lostBecause: () => (connection.closed ? `the SSH connection to ${where} closed during grading` : undefined),
    close: async () => connection.close(),
  }
}

/** Where a host key can be pinned, and which wins: said once in every host-key message. */
export const HOST_KEY_PLACES = 'pin it in one of three places: --host-key-sha256 FP (one machine), the host_key_sha256 column of the students\' CSV, ' +
  'or a known_hosts file (--known-hosts FILE, default ~/.ssh/known_hosts); the CSV column wins over --host-key-sha256, which wins over known_hosts'

/** The ssh layer's host-key refusal, said for a teacher: the key the machine showed (once),
 *  what was trusted, and where to pin it. Undefined for any other failure. */
export function hostKeyMessage(message: string, where: string, trustedBy: string, hadPins: boolean): string | undefined {
  const seen = /the host presented (SHA256:[\w+/=]+)/.exec(message)?.[1] ?? /the host key (SHA256:[\w+/=]+) is unknown/.exec(message)?.[1]
  if (!seen) return undefined
  return `${where}: the machine's host key is ${seen}, which ${trustedBy} does not ${hadPins ? 'match' : 'list'}, so labproof did not log in. ` +
    `If this is the student's machine (check with ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on it), ${HOST_KEY_PLACES}.`
}
