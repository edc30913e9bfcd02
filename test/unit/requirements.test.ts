import { describe, expect, test } from 'vitest'
import { parseProbe } from '../../harness/capabilities.ts'
import { parseScenario } from '../../harness/scenario/loader.ts'
import { inferRequirements, missingRequirements } from '../../harness/scenario/requirements.ts'
import { planSteps } from '../../harness/scenario/plan.ts'

describe('inferRequirements', () => {
  test('kernel features from the command itself', () => {
    expect(inferRequirements('ip netns exec ns1 ip tunnel add tun1 mode ipip remote 10.10.20.2 local 10.10.10.2').kernel).toEqual(['ipip'])
    expect(inferRequirements('ip link add v1 type veth peer name v1_r').kernel).toEqual(['veth'])
    expect(inferRequirements('iptables -t nat -A POSTROUTING -s 192.168.28.0/24 -j MASQUERADE').kernel).toEqual(['nf_nat'])
    expect(inferRequirements('ip link add vx0 type vxlan id 42 dstport 4789').kernel).toEqual(['vxlan'])
  })

  test('tools at command positions, including inside ip netns exec', () => {
    expect(inferRequirements('ip netns exec ns1 ifconfig').tools).toEqual(['ip', 'ifconfig'])
    expect(inferRequirements('ip netns exec ns1 route -n').tools).toEqual(['ip', 'route'])
    expect(inferRequirements('echo route').tools).toEqual([])
  })
})

// A probe's output as this machine's kernel (no ipip module) printed it.
const PROBE = [
  'release=6.18.44-fc-v657', 'distro=Debian GNU/Linux 12 (bookworm)',
  'tool:ip=1', 'tool:ping=1', 'tool:ifconfig=0',
  'feature:veth=ok', 'feature:ipip=Error: Unknown device type.',
  // A docker container in its own cgroup namespace asked to create a v1 hierarchy (as on a cgroup
  // v2 machine, where none is mounted), as the probe flattens mount's two lines.
  'feature:cgroup1_freezer=mount: /tmp/tmp.VfrMR1ObH1: permission denied.        dmesg(1) may have more information after failed mount system call.',
  // A docker container (no CAP_SYS_TIME) on a kernel with time namespaces.
  'feature:timens=unshare: failed to write to /proc/self/timens_offsets: Operation not permitted',
].join('\n')

describe('missingRequirements', () => {
  const caps = parseProbe('host01', PROBE)

  test('a missing kernel feature names the host, the feature and its config option', () => {
    expect(missingRequirements({ kernel: ['ipip'], tools: [] }, [caps])).toBe('host01: kernel lacks ipip (CONFIG_NET_IPIP)')
  })

  test('a feature a host can lack with the kernel option set says so, with what the trial got', () => {
    expect(missingRequirements({ kernel: ['cgroup1_freezer'], tools: [] }, [caps])).toBe(
      'host01: cannot mount a cgroup v1 freezer hierarchy and make a cgroup in it (CONFIG_CGROUP_FREEZER, or not allowed here: ' +
        'mount: /tmp/tmp.VfrMR1ObH1: permission denied.        dmesg(1) may have more information after failed mount system call.)',
    )
  })

  test('a time namespace whose clock offsets cannot be set', () => {
    expect(missingRequirements({ kernel: ['timens'], tools: [] }, [caps])).toBe(
      'host01: cannot make a time namespace with a clock offset (CONFIG_TIME_NS, or not allowed here: ' +
        'unshare: failed to write to /proc/self/timens_offsets: Operation not permitted)',
    )
  })

  test('a missing tool is named', () => {
    expect(missingRequirements({ kernel: [], tools: ['ifconfig'] }, [caps])).toBe('host01: missing tool ifconfig')
  })

  test('nothing missing gives no reason', () => {
    expect(missingRequirements({ kernel: ['veth'], tools: ['ip', 'ping'] }, [caps])).toBeUndefined()
  })

  test('a feature the probe never reached is not assumed present', () => {
    expect(caps.features.gre).toBe('not probed')
    expect(missingRequirements({ kernel: ['gre'], tools: [] }, [caps])).toMatch(/lacks gre/)
  })
})

// The link trials' part of a probe as this machine's kernel printed it through `ip -force -batch`
// (lines 1-14: veth, bridge, vxlan, macvlan's lower and macvlan, ipvlan's lower and ipvlan, ipip,
// gre, sit, dummy, vlan's lower and vlan, tun), its lines interleaved with the other trials'.
const BATCH_PROBE = [
  'release=6.18.44-fc-v1045', 'feature:timens=ok', 'feature:nf_nat=ok',
  'ip-batch:Error: Unknown device type.', 'ip-batch:Command failed -:7',
  'ip-batch:Error: Unknown device type.', 'ip-batch:Command failed -:8',
  'ip-batch:Error: Unknown device type.', 'ip-batch:Command failed -:9',
  'ip-batch:Error: Unknown device type.', 'ip-batch:Command failed -:10',
  'feature:cgroup1_freezer=ok',
  'ip-batch:Error: Unknown device type.', 'ip-batch:Command failed -:11',
  'ip-batch:Error: Unknown device type.', 'ip-batch:Command failed -:13',
  'ip-batch-done',
].join('\n')

describe('parseProbe of link trials run as one ip batch', () => {
  test('each feature takes the verdict of its own line, the lines that make its lower device aside', () => {
    expect(parseProbe('host01', BATCH_PROBE).features).toEqual({
      veth: true, bridge: true, vxlan: true, macvlan: true, ipvlan: 'Error: Unknown device type.',
      ipip: 'Error: Unknown device type.', gre: 'Error: Unknown device type.', sit: 'Error: Unknown device type.',
      dummy: 'Error: Unknown device type.', vlan: 'Error: Unknown device type.', tun: true,
      nf_nat: true, cgroup1_freezer: true, timens: true,
    })
  })

  test('a batch cut short (no end marker) proves nothing: its features are not probed', () => {
    const cut = BATCH_PROBE.split('\n').filter((l) => l !== 'ip-batch-done').join('\n')
    const caps = parseProbe('host01', cut)
    expect(caps.features.veth).toBe('not probed')
    expect(caps.features.nf_nat).toBe(true)
  })
})

describe('packets as evidence need tcpdump', () => {
  const plan = (yaml: string) => planSteps(parseScenario(`id: t\ntitle: t\nsource: { doc: t.txt, section: t }\n${yaml}`, 't.yaml'))

  test('ping and nat checks, captures and wire claims; not other checks or plain commands', () => {
    const [ping, route, captured, wired, plain] = plan([
      'steps:',
      '  - check: { ping: { from: host01, to: 8.8.8.8 } }',
      '  - check: { route: { on: host01, dst: default } }',
      '  - { on: host01, run: ip link show, capture: [{ on: "host01:ens33" }] }',
      '  - { on: host01, run: ping -c 1 8.8.8.8, wire: [{ on: "host01:ens33", match: { proto: icmp } }] }',
      '  - { on: host01, run: ip link show }',
    ].join('\n') + '\n')
    expect(ping!.requires.tools).toEqual(['ping', 'tcpdump'])
    expect(route!.requires.tools).toEqual(['ip'])
    expect(captured!.requires.tools).toEqual(['ip', 'tcpdump'])
    expect(wired!.requires.tools).toEqual(['ping', 'tcpdump'])
    expect(plain!.requires.tools).toEqual(['ip'])
  })

  test("a scenario's own captures: every step", () => {
    const [step] = plan('capture: [{ on: "internet:eth0" }]\nsteps:\n  - { on: host01, run: ip link show }\n')
    expect(step!.requires.tools).toEqual(['ip', 'tcpdump'])
  })
})
