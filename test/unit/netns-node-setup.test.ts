// The netns node's set-up as data: its mounts in order, its program per architecture, and the
// ip -batch input of the wiring (harness/backends/shared/{netns-root,topology}.ts).
import { spawnSync } from 'node:child_process'
import { describe, expect, test } from 'vitest'
import { architectureProblem, DROPPED_CAPABILITIES, nodeInitProgram, nodeMounts } from '../../harness/backends/shared/netns-root.ts'
import { gatewayBatch, gatewayScript, hostBatch, internetBatch, ipBatch } from '../../harness/backends/shared/topology.ts'
import { buildTopology } from '../../harness/topology.ts'

describe('a node\'s mounts', () => {
  const mounts = nodeMounts(['/root'], ['/usr'])
  const at = (target: string, flags?: number) => mounts.findIndex((m) => m.target === target && (flags === undefined || (m.flags & flags) === flags))

  test('the overlay root first, then a separate /usr over it', () => {
    expect(mounts[0]).toMatchObject({ target: '/run/root', type: 'overlay', data: 'lowerdir=/,upperdir=/run/upper,workdir=/run/work' })
    expect(mounts[1]).toMatchObject({ target: '/run/root/usr', type: 'overlay', data: 'lowerdir=/usr,upperdir=/run/upper0,workdir=/run/work0' })
  })

  test('/proc/sys is made read-only (MS_REMOUNT|MS_BIND|MS_RDONLY) after net/ was bound writable on it', () => {
    const readOnly = at('/run/root/proc/sys', 32 | 4096 | 1)
    expect(readOnly).toBeGreaterThan(at('/run/root/proc/sys/net', 4096))
    expect(at('/run/root/proc/sys/net', 1)).toBe(-1)
  })

  test('/dev is bound nosuid, with a devpts of its own; /root is an empty tmpfs', () => {
    expect(at('/run/root/dev', 32 | 4096 | 2)).toBeGreaterThan(at('/run/root/dev', 4096))
    expect(mounts.find((m) => m.type === 'devpts')!.data).toContain('newinstance')
    expect(mounts.find((m) => m.target === '/run/root/root')).toMatchObject({ type: 'tmpfs', data: 'mode=0700,size=64m' })
  })
})

describe('the node\'s program', () => {
  test('calls x86_64\'s system call numbers on x64 and the asm-generic ones on arm64', () => {
    expect(nodeInitProgram({ arch: 'x64', hidden: [], separate: [] })).toMatch(/call\("unshare", 272, /)
    expect(nodeInitProgram({ arch: 'arm64', hidden: [], separate: [] })).toMatch(/call\("unshare", 97, /)
    expect(nodeInitProgram({ arch: 'arm64', hidden: [], separate: [] })).toMatch(/call\("pivot_root", 41, /)
  })

  test('refuses an architecture whose table it does not have', () => {
    expect(architectureProblem('s390x')).toMatch(/not of s390x/)
    expect(() => nodeInitProgram({ arch: 's390x' })).toThrow(/not of s390x/)
  })

  test('drops every capability of the list from its shell\'s bounding set', () => {
    const program = nodeInitProgram({ arch: 'x64', hidden: [], separate: [], shell: 'true' })
    expect(program).toContain(`for (${Object.values(DROPPED_CAPABILITIES).join(', ')});`)
  })

  test.skipIf(spawnSync('perl', ['-v']).status !== 0)('is a Perl program perl accepts, with a quote in the shell script kept as it is', () => {
    const program = nodeInitProgram({ arch: 'x64', hidden: ['/root'], separate: [], shell: "echo 'a\\b'", ipForward: 0, runDir: '/run/x' })
    expect(program).toContain(String.raw`exec("/bin/sh", "-c", 'echo \'a\\b\'')`)
    const check = spawnSync('perl', ['-c', '-e', program], { encoding: 'utf8' })
    expect(check.stderr).toMatch(/syntax OK/)
  })
})

describe('the wiring as ip -batch input', () => {
  const t = buildTopology()
  const pids = new Map([['host01', 101], ['host02', 102], ['gateway', 103], ['internet', 104]])

  test('one command a line, the same commands as the shell script', () => {
    const batch = gatewayBatch(t, pids)
    expect(batch.split('\n').filter(Boolean).map((l) => `ip ${l}`).join(' && ') + ' && sysctl -qw net.ipv4.ip_forward=1').toBe(gatewayScript(t, pids))
    expect(batch).toContain('link add port-host01 type veth peer name ens33 netns 101\n')
    expect(hostBatch(t, '192.168.21.11/24')).toBe('addr add 192.168.21.11/24 brd + dev ens33\nlink set ens33 up\nroute add default via 192.168.21.1\n')
    expect(internetBatch(t)).toContain('addr add 8.8.8.8/32 dev lo\n')
  })

  test('a word ip -batch would split or read quotes in is refused, never passed on', () => {
    expect(() => ipBatch([['link', 'set', 'a b', 'up']])).toThrow(/"a b" cannot be given to ip -batch/)
    expect(() => ipBatch([['link', 'set', '"x"', 'up']])).toThrow(/cannot be given/)
  })
})
