// The end state's probe reads iptables with one iptables-save and the sysctls with one sysctl;
// these parsers give back what `iptables -t TABLE -S` and `sysctl -n KEY` printed, on outputs
// captured from this machine's iptables 1.8.9 (nf_tables) and procps sysctl.
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import type { ExecResult } from '../../harness/host.ts'
import { tablesFromSave } from '../../harness/endstate/iptables-save.ts'
import { sysctlsFromListing } from '../../harness/endstate/sysctl-listing.ts'

const fixture = (name: string) => readFileSync(new URL(`../fixtures/endstate/${name}`, import.meta.url), 'utf8')
const result = (command: string, stdout: string, exitCode = 0, stderr = ''): ExecResult => ({ host: 'host01', command, exitCode, stdout, stderr, ms: 5 })

/** `iptables -t T -S` of the same rule set, captured one table after another (`== T` headers). */
function listings(): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of fixture('iptables-S.nft.txt').split(/^== /m).filter(Boolean)) {
    const [table, ...lines] = part.split('\n')
    out[table!] = `${lines.filter(Boolean).join('\n')}\n`
  }
  return out
}

describe('iptables-save as iptables -S', () => {
  test('every table reads as -S printed it, the tables iptables-save leaves out included', () => {
    const tables = tablesFromSave(result('iptables-save', fixture('iptables-save.nft.txt')))
    const S = listings()
    expect(Object.keys(tables).sort()).toEqual(['filter', 'mangle', 'nat', 'raw'])
    for (const t of ['filter', 'nat', 'mangle', 'raw']) expect(tables[t as 'nat'].stdout, t).toBe(S[t])
    expect(tables.filter.stdout).toContain('-P FORWARD DROP\n-P OUTPUT ACCEPT\n-N LP\n-A FORWARD -j LP')
  })

  test('a failed iptables-save is every table\'s failure, with what it said', () => {
    const failed = result('iptables-save', '', 1, 'iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n')
    const tables = tablesFromSave(failed)
    for (const t of Object.values(tables)) {
      expect(t.exitCode).toBe(1)
      expect(t.stderr).toContain('Permission denied')
    }
  })
})

describe('one sysctl for every key', () => {
  test('each key has its value as sysctl -n gives it; a missing key fails alone, with sysctl\'s words', () => {
    const listing = result('sysctl net.ipv4.ip_forward net.nope.x kernel.hostname', fixture('sysctl-listing.out'), 1, fixture('sysctl-listing.err'))
    const got = sysctlsFromListing(['net.ipv4.ip_forward', 'net.nope.x', 'kernel.hostname'], listing)
    expect(got['net.ipv4.ip_forward']).toMatchObject({ exitCode: 0, stdout: '1\n' })
    expect(got['kernel.hostname']).toMatchObject({ exitCode: 0, stdout: 'vm\n' })
    expect(got['net.nope.x']!.exitCode).not.toBe(0)
    expect(got['net.nope.x']!.stderr).toBe('sysctl: cannot stat /proc/sys/net/nope/x: No such file or directory')
  })

  test('a value with a tab in it is kept whole', () => {
    const got = sysctlsFromListing(['net.ipv4.ip_local_port_range'], result('sysctl net.ipv4.ip_local_port_range', 'net.ipv4.ip_local_port_range = 32768\t60999\n'))
    expect(got['net.ipv4.ip_local_port_range']!.stdout).toBe('32768\t60999\n')
  })
})
