import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { domainTrouble, parseHostKeys, parseSshConfig, plainLines } from '../../harness/backends/vagrant/vagrant-output.ts'

const fixture = (name: string) => readFileSync(new URL(`../fixtures/outputs/${name}`, import.meta.url), 'utf8')

describe('vagrant output, as vagrant 2.3.4 with vagrant-libvirt 0.11.2 prints it', () => {
  test('ssh-config: each machine\'s address, port, user and key', () => {
    const entries = parseSshConfig(fixture('vagrant-ssh-config-libvirt.txt'))
    expect([...entries.keys()]).toEqual(['host01', 'host02'])
    expect(entries.get('host01')).toEqual({
      host: 'host01', hostName: '10.231.9.177', port: 22, user: 'root',
      identityFiles: ['/root/.vagrant.d/boxes/labproof-VAGRANTSLASH-bookworm-3f1261c52440/0/libvirt/labproof_key'],
    })
    expect(entries.get('host02')!.hostName).toMatch(/^10\.231\.9\.\d+$/)
  })

  test('ssh-config: quoted values (a path with spaces) lose their quotes', () => {
    const entries = parseSshConfig('Host "box one"\n  HostName 127.0.0.1\n  Port 2222\n  IdentityFile "/home/a b/.vagrant/private_key"\n')
    expect(entries.get('box one')).toMatchObject({ port: 2222, identityFiles: ['/home/a b/.vagrant/private_key'] })
  })

  test('up: the host keys the provisioning printed, as SHA256 fingerprints per machine', () => {
    const keys = parseHostKeys(plainLines(fixture('vagrant-up-libvirt.txt')))
    expect([...keys.keys()].sort()).toEqual(['host01', 'host02'])
    // ssh-keygen -lf of the box's ssh_host_ed25519_key.pub
    expect(keys.get('host01')).toEqual(['SHA256:ruFbR8XsDi76oWaSc1E5jTRDD2n2VqJxkG+JOn76oY4'])
    expect(keys.get('host02')).toEqual(keys.get('host01'))
  })

  test('a line that only mentions a key is not taken for one', () => {
    expect(parseHostKeys(['    host01: echo labproof-host-key "$(cut -d\' \' -f1,2 "$pub")"']).size).toBe(0)
  })

  test('plain lines: progress redraws (\\r, ESC[K) split into lines without escapes', () => {
    const lines = plainLines(fixture('vagrant-box-add.txt'))
    expect(lines).toContain('Progress: 0% (Rate: 0/s, Estimated time remaining: --:--:--)')
    expect(lines.at(-1)).toBe("==> box: Successfully added box 'labproof/fixture' (v0) for 'libvirt'!")
    expect(lines.join('')).not.toMatch(/\x1b|\r/)
  })
})

describe('domainTrouble: virsh domstate --reason of a domain vagrant is bringing up', () => {
  test('a domain paused or crashed will not come up, with libvirt\'s reason', () => {
    expect(domainTrouble('paused (unknown)\n\n')).toBe('paused (unknown)')
    expect(domainTrouble('paused (user)\n')).toBe('paused (user)')
    expect(domainTrouble('crashed (panicked)\n')).toBe('crashed (panicked)')
    expect(domainTrouble('shut off (crashed)\n')).toBe('shut off (crashed)')
    expect(domainTrouble('shut off (failed)\n')).toBe('shut off (failed)')
  })

  test('starting, running, or defined and not yet started: it may still come up', () => {
    expect(domainTrouble('paused (starting up)\n')).toBeUndefined()
    expect(domainTrouble('running (booted)\n\n')).toBeUndefined()
    expect(domainTrouble('shut off (unknown)\n')).toBeUndefined()
    expect(domainTrouble('')).toBeUndefined()
  })
})
