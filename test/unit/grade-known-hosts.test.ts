// known_hosts lookups against files written by OpenSSH itself (ssh-keygen -H hashed the second)
// and fingerprints as `ssh-keygen -lf` printed them; which lines match follows `ssh-keygen -F`.
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { hostFieldMatches, knownHostsName, trustedFingerprints } from '../../harness/grade/known-hosts.ts'

const fixture = (name: string) => readFileSync(new URL(`../fixtures/known_hosts/${name}`, import.meta.url), 'utf8')
const fingerprints = Object.fromEntries(fixture('fingerprints.txt').split('\n').filter((l) => /^[abc] /.test(l)).map((l) => [l[0], l.split(' ')[2]]))
const A = fingerprints.a!
const B = fingerprints.b!
const C = fingerprints.c!

describe.each(['known_hosts', 'known_hosts.hashed'])('%s', (file) => {
  const text = fixture(file)
  const trusted = (host: string, port = 22) => trustedFingerprints(text, host, port).map((k) => k.fingerprint)

  test('a host on port 22 by address; another port as [host]:port only', () => {
    expect(trusted('10.0.0.5')).toEqual([A])
    expect(trusted('10.0.0.6', 2222)).toEqual([B])
    expect(trusted('10.0.0.6')).toEqual([])
    expect(trusted('10.0.0.5', 2222)).toEqual([])
  })

  test('wildcards match, a !negation excludes (never hashed by ssh-keygen -H)', () => {
    expect(trusted('lab-3.example.test')).toEqual([C])
    expect(trusted('LAB-3.example.test')).toEqual([C])
    expect(trusted('lab-9.example.test')).toEqual([])
  })

  test('a @revoked key is never trusted, even where another line lists it', () => {
    expect(trusted('10.0.0.7')).toEqual([A])
  })

  test('key types and line numbers come along, as ssh-keygen -F reports them', () => {
    expect(trustedFingerprints(text, '10.0.0.6', 2222)).toEqual([{ line: 3, keyType: 'ecdsa-sha2-nistp256', fingerprint: B }])
  })
})

test('OpenSSH names a host [host]:port off port 22', () => {
  expect(knownHostsName('10.0.0.6', 22)).toBe('10.0.0.6')
  expect(knownHostsName('10.0.0.6', 2222)).toBe('[10.0.0.6]:2222')
  expect(hostFieldMatches('|1|not-base64|x', '10.0.0.6', 22)).toBe(false)
})
