// What a grader types: targets, the class CSV, and the commands grading is allowed to run.
import { describe, expect, test } from 'vitest'
import { classSummaryCsv, parseStudentsCsv } from '../../harness/grade/class.ts'
import type { StudentGrade } from '../../harness/grade/grade.ts'
import { isReadOnlyCommand, MACHINE_PROBE } from '../../harness/grade/read-only-host.ts'
import { reportBaseName, uniqueBaseNames } from '../../harness/grade/report-files.ts'
import { formatTarget, parseTarget, redactTarget } from '../../harness/grade/targets.ts'
import { pingCommand } from '../../harness/checks/ping.ts'

describe('targets', () => {
  test('ssh, local and docker', () => {
    expect(parseTarget('ssh://root@10.0.0.5')).toEqual({ kind: 'ssh', user: 'root', host: '10.0.0.5', port: 22 })
    expect(parseTarget('ssh://student@lab-3.example.test:2222')).toEqual({ kind: 'ssh', user: 'student', host: 'lab-3.example.test', port: 2222 })
    expect(parseTarget('ssh://root@[fd00::5]:22')).toEqual({ kind: 'ssh', user: 'root', host: 'fd00::5', port: 22 })
    expect(parseTarget('local')).toEqual({ kind: 'local' })
    expect(parseTarget('docker:labproof-x-alice')).toEqual({ kind: 'docker', container: 'labproof-x-alice' })
    expect(formatTarget(parseTarget('ssh://student@lab-3.example.test:2222'))).toBe('ssh://student@lab-3.example.test:2222')
  })

  test('a password in a target is refused, and never repeated', () => {
    expect(() => parseTarget('ssh://root:hunter2@10.0.0.5')).toThrow('ssh://root:***@10.0.0.5: passwords are not accepted in a target')
    expect(() => parseTarget('ssh://root:hunter2@10.0.0.5')).not.toThrow(/hunter2/)
    expect(redactTarget('ssh://root:hunter2@10.0.0.5:22')).toBe('ssh://root:***@10.0.0.5:22')
  })

  test('anything else names the forms', () => {
    expect(() => parseTarget('root@10.0.0.5')).toThrow('"root@10.0.0.5" is not a target; the forms are ssh://user@host[:port], local, or docker:CONTAINER')
    expect(() => parseTarget('ssh://10.0.0.5')).toThrow('name the user')
  })
})

describe('students.csv', () => {
  test('header row, quoted fields, identity relative to the CSV, optional pinned key', () => {
    const students = parseStudentsCsv([
      'name,target,identity,host_key_sha256',
      'alice,ssh://root@10.0.0.5,keys/alice,',
      '"Smith, Bob",ssh://root@10.0.0.6:2222,/etc/grader/bob,SHA256:abc',
      'carol,local,,',
      '',
    ].join('\r\n'), '/class/students.csv')
    expect(students).toEqual([
      { name: 'alice', target: 'ssh://root@10.0.0.5', identityFile: '/class/keys/alice' },
      { name: 'Smith, Bob', target: 'ssh://root@10.0.0.6:2222', identityFile: '/etc/grader/bob', hostKeySha256: ['SHA256:abc'] },
      { name: 'carol', target: 'local' },
    ])
  })

  // A mistake in a row costs that row only (grade-class-inputs.test.ts); these spoil the file.
  test('mistakes in the file as a whole are named with their line', () => {
    expect(() => parseStudentsCsv('student,target\nalice,local\n', 's.csv')).toThrow('s.csv:1: no "name" column')
    expect(() => parseStudentsCsv('name,target,password\nalice,local,x\n', 's.csv')).toThrow('s.csv:1: unknown column "password"')
    expect(() => parseStudentsCsv('name,target\nalice,"local\n', 's.csv')).toThrow('s.csv:2: a quoted field opens on this line and is never closed')
  })

  test('the summary quotes what needs quoting', () => {
    const grade = { name: 'Smith, Bob', score: 6, max: 7, percent: 85.7, error: undefined, checks: [
      { step: 61, title: 'iptables nat POSTROUTING has "-s 192.168.28.0/24 -j MASQUERADE" on host01', status: 'failed' },
    ] } as unknown as StudentGrade
    expect(classSummaryCsv([grade])).toBe('name,score,max,percent,failed_checks,error\r\n' +
      '"Smith, Bob",6,7,85.7,"step 61: iptables nat POSTROUTING has ""-s 192.168.28.0/24 -j MASQUERADE"" on host01",\r\n')
  })

  test('report file names', () => {
    expect(reportBaseName('Smith, Bob')).toBe('Smith_Bob')
    expect(reportBaseName('../../etc/passwd')).toBe('etc_passwd')
    expect(uniqueBaseNames(['a b', 'a_b', 'c'])).toEqual(['a_b', 'a_b-2', 'c'])
  })
})

describe('read-only commands', () => {
  test('the probes the checks send are allowed', () => {
    for (const cmd of [
      MACHINE_PROBE,
      pingCommand({ to: '10.10.20.2', count: 3 }),
      pingCommand({ to: '10.10.20.2', count: 3, interface: 'veth-1' }),
      'ip -j route show',
      'ip -j -d addr show dev veth-1-br',
      "ip -j -d addr show dev 'odd name'",
      'bridge -j link show',
      'sysctl -n net.ipv4.ip_forward',
      'iptables -t nat -S POSTROUTING',
    ]) expect(isReadOnlyCommand(cmd), cmd).toBe(true)
  })

  test('anything that could change the machine is refused', () => {
    for (const cmd of [
      'ip route add default via 10.0.0.1',
      'sysctl -w net.ipv4.ip_forward=1',
      'iptables -t nat -A POSTROUTING -j MASQUERADE',
      'ip -j route show; rm -rf /',
      'ip -j -d addr show dev v1 && reboot',
      "ip -j -d addr show dev 'v1'; reboot; echo ''",
      'ping -c 3 -i 0.2 -W 1 10.0.0.1 $(reboot)',
      'echo 1 > /proc/sys/net/ipv4/ip_forward',
      'mkdir -p /run/labproof-captures && { tcpdump -i any -w /run/x.pcap & echo $!; }',
    ]) expect(isReadOnlyCommand(cmd), cmd).toBe(false)
  })
})
