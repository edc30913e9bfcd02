// What a host's shell is given for a command: plain commands a batch runs itself, and ip and
// bridge entering a namespace on their own.
import { describe, expect, test } from 'vitest'
import { hostScript } from '../../harness/base-host.ts'
import { batchScript, plainCommand } from '../../harness/shell-server.ts'

describe('plainCommand', () => {
  test('one program with plain words', () => {
    for (const c of ['ip link add v1 type veth peer name v1_p', 'ping -c 3 -i 0.01 -W 1 10.10.20.2', 'sysctl -w net.ipv4.ip_forward=1', '/usr/sbin/ip -j route show', 'iptables -t nat -S']) {
      expect(plainCommand(c), c).toBe(true)
    }
  })
  test('anything a shell must read is not', () => {
    for (const c of ['echo 1 > /proc/sys/net/ipv4/ip_forward', 'ip a && ip r', 'ip link show | grep v1', "ip netns exec 'ns 1' ip a", 'echo $HOME', 'ls /dev/tun*', 'ip a\nip r', 'A=1 ip a', '', ' ip a']) {
      expect(plainCommand(c), c).toBe(false)
    }
  })
  test('a builtin or keyword is not: it could end, move or reset the batch’s shell', () => {
    for (const c of ['exit 1', 'cd /', 'exec ip a', 'set -e', 'true', 'echo hi', 'kill 1', 'export A', 'if', '. /etc/profile', ': x']) {
      expect(plainCommand(c), c).toBe(false)
    }
  })
})

test('a batch script runs a plain command as itself, the others as `sh FILE`', () => {
  const script = batchScript('/d', '/d/b.stop', [{ id: 'a', gate: 0, input: true, plain: 'ip -j link show' }, { id: 'b', gate: 'any', input: false }])
  expect(script.split('\n')).toEqual([
    'echo "start a" >&3',
    'ip -j link show </d/a.in >/d/a.out 2>/d/a.err 3>&-',
    's=$?',
    'echo "end a $s" >&3',
    '[ "$s" = 0 ] || exit 0',
    '[ -e /d/b.stop ] && exit 0',
    'echo "start b" >&3',
    'sh /d/b.sh </dev/null >/d/b.out 2>/d/b.err 3>&-',
    's=$?',
    'echo "end b $s" >&3',
  ])
})

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
