// What labproof reads from vagrant's output: `vagrant ssh-config` (where each machine's sshd is
// and which key logs in) and the host keys the provisioning script prints, one line each:
//     host01: labproof-host-key ssh-ed25519 AAAAC3Nz…
import { sshFingerprint } from '../shared/ssh-host.ts'

export interface SshConfigEntry {
  host: string
  hostName: string
  port: number
  user: string
  identityFiles: string[]
}

function unquote(value: string): string {
  const v = value.trim()
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v
}

/** The `Host` blocks of `vagrant ssh-config`, by machine name. */
export function parseSshConfig(text: string): Map<string, SshConfigEntry> {
  const entries = new Map<string, SshConfigEntry>()
  let current: SshConfigEntry | undefined
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    const m = /^(\S+)\s+(.*)$/.exec(line)
    if (!m) continue
    const [, key, value] = m as unknown as [string, string, string]
    if (key === 'Host') {
      current = { host: unquote(value), hostName: '', port: 22, user: '', identityFiles: [] }
      entries.set(current.host, current)
      continue
    }
    if (!current) continue
    switch (key) {
      case 'HostName': current.hostName = unquote(value); break
      case 'Port': current.port = Number(value); break
      case 'User': current.user = unquote(value); break
      case 'IdentityFile': current.identityFiles.push(unquote(value)); break
    }
  }
  return entries
}

/** Printable characters only: vagrant colours and redraws progress bars with escapes and \r. */
export function plainLines(chunk: string): string[] {
  return chunk
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .split(/\r\n|\r|\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '')
}

/** SHA256 fingerprints of the host keys each machine's provisioning printed. */
export function parseHostKeys(lines: string[]): Map<string, string[]> {
  const keys = new Map<string, string[]>()
  for (const line of lines) {
    const m = /^\s*(?:==> )?([\w.-]+): labproof-host-key (\S+) ([A-Za-z0-9+/=]+)\s*$/.exec(line)
    if (!m) continue
    const fingerprint = sshFingerprint(Buffer.from(m[3]!, 'base64'))
    keys.set(m[1]!, [...(keys.get(m[1]!) ?? []).filter((k) => k !== fingerprint), fingerprint])
  }
  return keys
}

/** Why a libvirt domain that is booting is not going to, from `virsh domstate --reason`
 *  ("running (booted)", "paused (user)", "shut off (crashed)"), or undefined while it may still
 *  come up. libvirt pauses a domain as it starts ("paused (starting up)"), and a defined domain
 *  not yet started is "shut off (unknown)": both are fine. */
export function domainTrouble(domstate: string): string | undefined {
  const m = /^([a-z ]+?)(?: \(([^)]*)\))?$/.exec(domstate.trim().split('\n')[0]?.trim() ?? '')
  if (!m) return undefined
  const [, state, reason = ''] = m
  if (state === 'paused' && reason !== 'starting up') return `paused (${reason || 'no reason given'})`
  if (state === 'crashed') return `crashed (${reason || 'no reason given'})`
  if (state === 'shut off' && /crashed|failed/.test(reason)) return `shut off (${reason})`
  return undefined
}
