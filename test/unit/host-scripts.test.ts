// What a host's shell is given for a command: ip and bridge entering a namespace on their own.
import { describe, expect, test } from 'vitest'
import { hostScript } from '../../harness/base-host.ts'

describe('hostScript', () => {
  test('on the host itself: the command as it is', () => {
    expect(hostScript('ip a && ip r', undefined)).toBe('ip a && ip r')
  })
  test('ip and bridge of plain words enter the namespace themselves', () => {
    expect(hostScript('ip -j -d addr show dev v1', 'ns1')).toBe('ip -n ns1 -j -d addr show dev v1')
    expect(hostScript('bridge -j link show', 'ns1')).toBe('bridge -n ns1 -j link show')
    expect(hostScript('ip -br link', 'ns1')).toBe('ip -n ns1 -br link')
  })
  test('anything else goes through ip netns exec and a shell', () => {
    const viaExec = (cmd: string, ns = 'ns1') => `ip netns exec ${ns} sh -c '${cmd}'`
    expect(hostScript('ping -c 1 10.0.0.1', 'ns1')).toBe("ip netns exec ns1 sh -c 'ping -c 1 10.0.0.1'")
    // A shell's syntax; a namespace, batch or -all of its own (shortened options too); a command it runs.
    for (const cmd of ['ip a | grep v1', 'ip netns list', 'ip -n ns2 a', 'ip -net ns2 a', 'ip -b /tmp/x', 'ip -all netns exec ip a', 'ip vrf exec red ping x', 'ip link set v1 netns ns2', 'ip -force -batch -']) {
      expect(hostScript(cmd, 'ns1'), cmd).toBe(viaExec(cmd))
    }
    expect(hostScript('ip a', 'my ns')).toBe("ip -n 'my ns' a")
  })
})
