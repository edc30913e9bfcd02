// OpenSSH known_hosts: the host keys a grader trusts, as SHA256 fingerprints to pin. Plain and
// hashed (`|1|salt|hash`) host fields, `[host]:port` for other ports, `*`/`?` wildcards and
// `!negations`; `@revoked` keys are never trusted, `@cert-authority` lines are not supported
// (ssh2 does not verify host certificates) and are passed over.
import { createHmac } from 'node:crypto'
import { sshFingerprint } from '../backends/shared/ssh-host.ts'

export interface KnownHostKey {
  /** 1-based line in the file, for messages. */
  line: number
  keyType: string
  fingerprint: string
}

interface KnownHostsLine extends KnownHostKey {
  marker?: '@revoked' | '@cert-authority'
  hosts: string
}

export function parseKnownHosts(text: string): KnownHostsLine[] {
  const lines: KnownHostsLine[] = []
  text.split('\n').forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/)
    if (!fields[0] || fields[0].startsWith('#')) return
    const marker = fields[0].startsWith('@') ? fields.shift() : undefined
    const [hosts, keyType, keyBase64] = fields
    if (!hosts || !keyType || !keyBase64) return
    const blob = Buffer.from(keyBase64, 'base64')
    if (blob.length === 0) return
    lines.push({
      line: i + 1,
      hosts,
      keyType,
      fingerprint: sshFingerprint(blob),
      ...(marker === '@revoked' || marker === '@cert-authority' ? { marker } : {}),
    })
  })
  return lines
}

/** How OpenSSH names a host in known_hosts: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

function hashedMatches(field: string, name: string): boolean {
  const [, magic, salt, hash] = field.split('|')
  if (magic !== '1' || !salt || !hash) return false
  return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash
}

function wildcardMatches(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${re}$`, 'i').test(name)
}

/** Whether a line's host field names this host; a matching `!pattern` excludes it. */
export function hostFieldMatches(field: string, host: string, port: number): boolean {
  const name = knownHostsName(host, port)
  if (field.startsWith('|')) return hashedMatches(field, name)
  let matched = false
  for (const pattern of field.split(',')) {
    if (pattern.startsWith('!')) {
      if (wildcardMatches(pattern.slice(1), name)) return false
    } else if (wildcardMatches(pattern, name)) {
      matched = true
    }
  }
  return matched
}

/** The fingerprints known_hosts trusts for host:port (revoked ones removed). */
export function trustedFingerprints(text: string, host: string, port: number): KnownHostKey[] {
  const matching = parseKnownHosts(text).filter((l) => hostFieldMatches(l.hosts, host, port))
  const revoked = new Set(matching.filter((l) => l.marker === '@revoked').map((l) => l.fingerprint))
  return matching
    .filter((l) => !l.marker && !revoked.has(l.fingerprint))
    .map(({ line, keyType, fingerprint }) => ({ line, keyType, fingerprint }))
}
