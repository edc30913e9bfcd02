// The benchmark's floor: the scenario's document commands, bounded as labproof bounds them,
// errata corrections included, grouped into one script per run of commands on one host.
import { execFileSync } from 'node:child_process'
import { describe, expect, test } from 'vitest'
import { compareFloor } from '../../bench/floor-check.ts'
import { floorCommands, floorExitCodes, floorScript, floorSegments, floorWithChecksCommands } from '../../bench/floor-script.ts'
import { parseScenario } from '../../harness/scenario/loader.ts'
import { planSteps } from '../../harness/scenario/plan.ts'

const scenario = parseScenario(`
id: floor
title: floor
source: { doc: x.txt, section: s }
steps:
  - { on: host01, run: ip netns add ns1 }
  - { on: host01, run: ip netns exec ns1 ping 10.0.0.2, expect: { reachable: false } }
  - check: { sysctl: { on: host01, key: net.ipv4.ip_forward, value: 0 } }
  - on: host01/ns1
    run: ip link set tun1 up
    erratum: { corrected: ip link set tun2 up, on: host02, why: wrong host }
  - { on: host02, run: cat, input: hello }
  - { on: host01, run: "exit 3" }
`, 'floor.yaml')

describe('bench floor', () => {
  const commands = floorCommands(planSteps(scenario), (n) => n !== 6)

  test('run steps only, bounded, errata corrections after the verbatim command, skipped steps left out', () => {
    expect(commands.map((c) => [c.step, c.target, c.command])).toEqual([
      [1, 'host01', 'ip netns add ns1'],
      [2, 'host01', expect.stringMatching(/^ip netns exec ns1 ping -c 3 -i [\d.]+ -W 1 10\.0\.0\.2$/)],
      [4, 'host01/ns1', 'ip link set tun1 up'],
      [4, 'host02', 'ip link set tun2 up'],
      [5, 'host02', 'cat'],
    ])
  })

  test('one script per run of consecutive commands on one host', () => {
    expect(floorSegments(commands).map((s) => [s.host, s.commands.length])).toEqual([['host01', 3], ['host02', 2]])
  })

  test('the script runs each command in its own subshell, with its input, and reports every exit status', () => {
    const script = floorScript([
      { step: 1, target: 'host01', command: 'exit 3' },
      { step: 2, target: 'host01', command: 'cat', input: 'hello' },
      { step: 3, target: 'host01', command: 'cd /nonexistent-dir' },
      { step: 4, target: 'host01', command: 'true' },
    ])
    const out = execFileSync('sh', ['-c', script], { encoding: 'utf8', input: '', stdio: ['pipe', 'pipe', 'ignore'] })
    expect([...floorExitCodes(out)]).toEqual([[0, 3], [1, 0], [2, 2], [3, 0]])
    expect(out).toContain('hello\n')
  })

  test('the floor with checks: each step\'s commands in the order labproof ran them, the document ones with their input', () => {
    const run = (command: string, netns?: string) => ({ host: command === 'ip link set tun2 up' || command === 'cat' ? 'host02' : 'host01', ...(netns ? { netns } : {}), command, exitCode: 0, stdout: '', stderr: '', ms: 1 })
    const transcripts = new Map([
      [1, [run('ip netns add ns1')]],
      [2, [run(commands[1]!.command)]],
      [3, [run('sysctl -n net.ipv4.ip_forward')]],
      // The erratum's evidence ran between the verbatim command and its correction.
      [4, [run('ip link set tun1 up', 'ns1'), run('ip -j link show dev tun1', 'ns1'), run('ip link set tun2 up')]],
      [5, [run('cat')]],
    ])
    expect(floorWithChecksCommands(planSteps(scenario), (n) => n !== 6, transcripts).map((c) => [c.step, c.target, c.command, c.input])).toEqual([
      [1, 'host01', 'ip netns add ns1', undefined],
      [2, 'host01', commands[1]!.command, undefined],
      [3, 'host01', 'sysctl -n net.ipv4.ip_forward', undefined],
      [4, 'host01/ns1', 'ip link set tun1 up', undefined],
      [4, 'host01/ns1', 'ip -j link show dev tun1', undefined],
      [4, 'host02', 'ip link set tun2 up', undefined],
      [5, 'host02', 'cat', 'hello'],
    ])
  })

  test('a command in a namespace runs there as labproof runs it: ip enters it itself, others through ip netns exec', () => {
    const script = floorScript([
      { step: 1, target: 'host01/ns1', command: 'ip -j route show' },
      { step: 2, target: 'host01/ns1', command: 'sysctl -n net.ipv4.ip_forward' },
    ])
    expect(script).toContain('ip -n ns1 -j route show\n')
    expect(script).toContain("ip netns exec ns1 sh -c 'sysctl -n net.ipv4.ip_forward'\n")
  })

  test('a command that exits differently in the floor than under labproof is reported', () => {
    const run = (command: string, exitCode: number) => ({ host: 'host01', command, exitCode, stdout: '', stderr: '', ms: 1 })
    const two = [{ step: 1, target: 'host01', command: 'a' }, { step: 1, target: 'host01', command: 'b' }]
    expect(compareFloor(two, [0, 0], new Map([[1, [run('a', 0), run('b', 0)]]]))).toEqual([])
    expect(compareFloor(two, [0, 1], new Map([[1, [run('a', 0), run('b', 0)]]]))).toMatchObject([{ command: 'b', labproof: 0, floor: 1 }])
    expect(compareFloor(two, [0], new Map([[1, [run('a', 0)]]]))).toMatchObject([{ command: 'b', labproof: 'not found', floor: 'not run' }])
  })
})
