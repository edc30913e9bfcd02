// The drafter on small posts written for these tests (never the seeds' text): commands found
// where posts put them, hosts and namespaces, outputs and pings, guesses marked todo.
import { describe, expect, test } from 'vitest'
import { parse } from 'yaml'
import { draftScenario, isRunDraft, type Draft, type DraftRunStep } from '../../harness/draft/draft.ts'
import { draftToYaml } from '../../harness/draft/yaml-writer.ts'
import { gluedHeading } from '../../harness/draft/post-lines.ts'
import { parseScenario } from '../../harness/scenario/loader.ts'
import { syncSteps, runStepsOf } from '../../harness/scenario/source-sync.ts'

const runs = (d: Draft): DraftRunStep[] => d.steps.filter(isRunDraft)
const draft = (text: string) => draftScenario(text, { doc: 'post.md' })

describe('labproof draft', () => {
  test('finds commands in code fences, behind prompts and as bare lab-tool lines, each with its line', () => {
    const post = [
      '# Two namespaces',                 // 1
      '',                                 // 2
      'First make them:',                 // 3
      '',                                 // 4
      '```',                              // 5
      'ip netns add red',                 // 6
      '# a comment, not a command',       // 7
      '$ ip netns add blue',              // 8
      '```',                              // 9
      '',                                 // 10
      'Then a pair of cables.',           // 11
      'ip link add r0 type veth peer name b0', // 12
      '[root@node1 ~]# ip link set r0 netns red', // 13
      'We use ip netns exec to run things.',  // 14
    ].join('\n')
    const steps = runs(draft(post))
    expect(steps.map((s) => [s.line, s.run])).toEqual([
      [6, 'ip netns add red'],
      [8, 'ip netns add blue'],
      [12, 'ip link add r0 type veth peer name b0'],
      [13, 'ip link set r0 netns red'],
    ])
  })

  test('syntax summaries and prose are not commands', () => {
    const post = ['ip netns add <name>', 'ip netns exec [NAME] cmd ...', 'ping the other side to see it works.', '我们用 ip netns add 创建命名空间', 'ip netns'].join('\n')
    expect(runs(draft(post))).toEqual([])
  })

  test('hosts from prompts and from prose labels; namespaces stay on the host that made them', () => {
    const post = [
      '在节点A上:',
      'ip netns add ns1',
      '在节点B上:',
      'ip netns add ns2',
      'ip netns exec ns1 ip link set lo up',
      '[root@worker-02 ~]# ip link show',
      '[root@worker-01 ~]# ip route show',
    ].join('\n')
    expect(runs(draft(post)).map((s) => s.on)).toEqual(['host01', 'host02', 'host01', 'host02', 'host01'])
  })

  test('a line naming a namespace puts the next command in it, and says so as a todo', () => {
    const post = ['ip netns add ns1', '', 'ns1', 'ip link set lo up'].join('\n')
    const [, second] = runs(draft(post))
    expect(second!.on).toBe('host01/ns1')
    expect(second!.todos.join()).toMatch(/line 4: run in namespace ns1/)
  })

  test('shown output becomes expect.output; a shown ping becomes reachable and ttl', () => {
    const post = [
      '$ ip netns list',
      'blue',
      'red',
      '',
      '$ ip netns exec red ping 10.0.0.2',
      'PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.',
      '64 bytes from 10.0.0.2: icmp_seq=1 ttl=63 time=0.05 ms',
      '',
      '$ ip netns exec red ping 10.0.9.9',
      'ping: connect: Network is unreachable',
    ].join('\n')
    const [list, reply, failure] = runs(draft(post))
    expect(list!.expect).toEqual({ output: 'blue\nred' })
    expect(reply!.expect).toEqual({ reachable: true, ttl: 63 })
    expect(failure!.expect).toEqual({ reachable: false })
  })

  test('a ping the prose says fails is reachable: false, marked as a guess', () => {
    const post = ['Now ns1 cannot reach ns2, the ping fails:', 'ip netns exec ns1 ping 10.1.0.2', 'PING 10.1.0.2 (10.1.0.2) 56(84) bytes of data.'].join('\n')
    const [ping] = runs(draft(post))
    expect(ping!.expect).toEqual({ reachable: false })
    expect(ping!.todos.join()).toMatch(/line 1: .*reachable: false is a guess/)
  })

  test('variables defined in the post are spelled out in a note, with a todo', () => {
    const post = ['```', 'NS="blue"', 'ip netns add $NS', '```'].join('\n')
    const [, add] = runs(draft(post))
    expect(add!.run).toBe('ip netns add $NS')
    expect(add!.notes.join()).toContain('ip netns add blue')
    expect(add!.todos.join()).toMatch(/line 3: .*\$NS is not set/)
  })

  test('the underlay: interface and addresses from the post, so its commands run as written', () => {
    const post = [
      'Our two machines sit on one LAN, and the gateway is 10.5.0.254.',
      '在节点A上:',
      'ip tunnel add t1 mode ipip remote 10.5.0.2 local 10.5.0.1 dev eth1',
    ].join('\n')
    const d = draft(post)
    expect(d.underlay).toEqual({ interface: 'eth1', gateway: '10.5.0.254' })
    expect(d.hosts).toEqual({ host01: { underlay: '10.5.0.1/24' }, host02: { underlay: '10.5.0.2/24' } })
    expect(d.todos.join()).toMatch(/\/24 assumed/)
  })

  test('a device made by a command needing ipip makes the steps using it need ipip', () => {
    const post = ['ip tunnel add t9 mode ipip remote 10.0.0.2 local 10.0.0.1', 'ip link set t9 up'].join('\n')
    expect(runs(draft(post))[1]!.requires).toEqual({ kernel: ['ipip'] })
  })

  test('a PID the post\'s shell printed gets an erratum naming the process', () => {
    const post = ['$ sleep 9999 &', '[1] 4242', '$ echo 4242 > /sys/fs/cgroup/x/cgroup.procs'].join('\n')
    const [job, write] = runs(draft(post))
    expect(job!.expect).toBeUndefined()
    expect(write!.erratum?.corrected).toBe("echo $(pgrep -xf 'sleep 9999') > /sys/fs/cgroup/x/cgroup.procs")
    expect(write!.expect).toEqual({ exitCode: 'nonzero' })
  })

  test('commands typed into a shell a command opened are its input', () => {
    const post = ['root@box:~# unshare -n bash', 'root@inner:~# ip link', '1: lo: <LOOPBACK> mtu 65536', 'root@inner:~# exit', 'root@box:~# ip link'].join('\n')
    const steps = runs(draft(post))
    expect(steps.map((s) => s.run)).toEqual(['unshare -n bash', 'ip link'])
    expect(steps[0]!.input).toEqual(['ip link'])
    expect(steps[0]!.expect).toEqual({ output: '1: lo: <LOOPBACK> mtu 65536' })
  })

  test('the YAML loads as a scenario and is in step with its post', () => {
    const post = ['## Bridge', '', '```', 'ip link add br0 type bridge', 'ip link set br0 up', '```', '', '## Check', '', '$ ping -c 1 10.0.0.1', '64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time=0.1 ms'].join('\n')
    const yaml = draftToYaml(draft(post))
    const scenario = parseScenario(yaml, 'draft.yaml')
    expect(scenario.steps.filter((s) => 'section' in s).map((s) => (s as { section: string }).section)).toEqual(['Bridge', 'Check'])
    expect(syncSteps(runStepsOf(yaml), post).drifts).toEqual([])
    expect(yaml).toMatch(/# post line 4\n\s+- on: host01\n\s+run: ip link add br0 type bridge/)
    expect((parse(yaml) as { source: { doc: string } }).source.doc).toBe('post.md')
  })
})

describe('a command glued to the next heading by a scraper', () => {
  test('is split at the junction, the heading kept as a heading', () => {
    expect(gluedHeading('ip link set br0 upCheck The Bridge')).toEqual({ command: 'ip link set br0 up', heading: 'Check The Bridge' })
    expect(gluedHeading('ip link del veth0Clean Up the Lab')).toEqual({ command: 'ip link del veth0', heading: 'Clean Up the Lab' })
    expect(gluedHeading('ip route show table 100Policy Routing (Advanced)')).toEqual({ command: 'ip route show table 100', heading: 'Policy Routing (Advanced)' })
    // An all-capitals word before the heading: the junction is where the heading's first word begins.
    expect(gluedHeading('iptables -A FORWARD -i br0 -j DROPTest From a Namespace')).toEqual({ command: 'iptables -A FORWARD -i br0 -j DROP', heading: 'Test From a Namespace' })
  })

  test('commands that only end in capitals or a capital word are left whole', () => {
    for (const line of [
      'iptables -t nat -A POSTROUTING -s 10.1.0.0/24 -j MASQUERADE',
      'iptables -P FORWARD ACCEPT',
      'ip link set vethA up',
      'ip netns exec nsA ping -c 1 10.1.0.2',
      'ip link set br0 upStatus', // one word: not enough to call it a heading
      'Verify The Bridge', // no command before it
    ]) expect([line, gluedHeading(line)]).toEqual([line, undefined])
  })

  test('a scraped post drafts the command verbatim up to the heading, and the heading as a section', () => {
    const post = ['Make a bridge', 'ip link add br9 type bridge', 'ip link set br9 upLook At It Now', 'ip -d link show br9', ''].join('\n')
    const d = draftScenario(post, { doc: 'post.txt' })
    expect(runs(d).map((s) => [s.line, s.run])).toEqual([[2, 'ip link add br9 type bridge'], [3, 'ip link set br9 up'], [4, 'ip -d link show br9']])
    expect(draftToYaml(d)).toContain('section: Look At It Now')
  })
})
