// The netns node's set-up as data: its mounts in order, its program per architecture, and the
// wiring's commands (harness/backends/shared/{netns-root,topology}.ts).
import { spawnSync } from 'node:child_process'
import { describe, expect, test } from 'vitest'
import { architectureProblem, DROPPED_CAPABILITIES, nodeMounts, nodesProgram, type NodeSpec } from '../../harness/backends/shared/netns-root.ts'
import { gatewayCommands, gatewayScript, hostCommands, internetCommands } from '../../harness/backends/shared/topology.ts'
import { netlinkRequest } from '../../harness/backends/shared/netlink.ts'
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

describe('the nodes\' program', () => {
  const node: NodeSpec = { name: 'host01', hostname: 'host-01' }

  test('calls x86_64\'s system call numbers on x64 and the asm-generic ones on arm64', () => {
    expect(nodesProgram([node], { arch: 'x64', hidden: [], separate: [] })).toMatch(/call\("unshare", 272, /)
    expect(nodesProgram([node], { arch: 'arm64', hidden: [], separate: [] })).toMatch(/call\("unshare", 97, /)
    expect(nodesProgram([node], { arch: 'arm64', hidden: [], separate: [] })).toMatch(/call\("pivot_root", 41, /)
  })

  test('refuses an architecture whose table it does not have', () => {
    expect(architectureProblem('s390x')).toMatch(/not of s390x/)
    expect(() => nodesProgram([node], { arch: 's390x' })).toThrow(/not of s390x/)
  })

  test('drops every capability of the list from its shell\'s bounding set', () => {
    const program = nodesProgram([node], { arch: 'x64', hidden: [], separate: [], shell: 'true' })
    expect(program).toContain(`for (${Object.values(DROPPED_CAPABILITIES).join(', ')});`)
  })

  test('refuses wiring on a node it does not make, or naming one', () => {
    expect(() => nodesProgram([node], { arch: 'x64', wiring: [{ on: 'gateway', request: netlinkRequest(['link', 'set', 'lo', 'up']) }] })).toThrow(/ip link set lo up runs on gateway, which is not one of the nodes/)
    expect(() => nodesProgram([node], { arch: 'x64', wiring: [{ on: 'host01', request: netlinkRequest(['link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'b0', 'netns', 'node:host02']) }] })).toThrow(/names node host02/)
  })

  test.skipIf(spawnSync('perl', ['-v']).status !== 0)('is a Perl program perl accepts, with quotes in the hostname, the shell script and the wiring kept as they are', () => {
    const program = nodesProgram([{ ...node, hostname: "it's", ipForward: 0 }], { arch: 'x64', hidden: ['/root'], separate: [], shell: "echo 'a\\b'", runDir: '/run/x', wiring: [{ on: 'host01', request: netlinkRequest(['link', 'set', 'lo', 'up']) }] })
    expect(program).toContain(String.raw`exec("/bin/sh", "-c", 'echo \'a\\b\'')`)
    expect(program).toContain(String.raw`['host01', 'it\'s', 0, 4, 5]`)
    expect(program).toContain(`['host01', 'ip link set lo up', pack("H*", '${netlinkRequest(['link', 'set', 'lo', 'up']).message.toString('hex')}'), [20, 'lookup', pack("H*", '`)
    const check = spawnSync('perl', ['-c', '-e', program], { encoding: 'utf8' })
    expect(check.stderr).toMatch(/syntax OK/)
  })
})

describe('the wiring as netlink requests', () => {
  const t = buildTopology()
  const nodes = new Map([['host01', 'node:host01'], ['host02', 'node:host02'], ['gateway', 'node:gateway'], ['internet', 'node:internet']] as const)

  test('the same commands as the shell script, each one a request; the hosts\' veth ends go to their nodes', () => {
    const commands = gatewayCommands(t, nodes)
    expect(commands.map((c) => `ip ${c.join(' ')}`).join(' && ') + ' && sysctl -qw net.ipv4.ip_forward=1').toBe(gatewayScript(t, nodes))
    const requests = [...commands, ...hostCommands(t, '192.168.21.11/24'), ...internetCommands(t)].map(netlinkRequest)
    expect(requests.find((r) => r.command === 'ip link add port-host01 type veth peer name ens33 netns node:host01')!.patches).toEqual([{ offset: expect.any(Number), netns: 'host01' }])
    expect(hostCommands(t, '192.168.21.11/24')).toEqual([['addr', 'add', '192.168.21.11/24', 'brd', '+', 'dev', 'ens33'], ['link', 'set', 'ens33', 'up'], ['route', 'add', 'default', 'via', '192.168.21.1']])
    expect(internetCommands(t)).toContainEqual(['addr', 'add', '8.8.8.8/32', 'dev', 'lo'])
  })
})
