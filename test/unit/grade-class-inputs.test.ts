// A teacher's inputs: the class list (CSV) and the grading file beside a scenario. A mistake in
// the file as a whole is `file:line: why` (the command exits 2); a bad row is kept and scores 0
// with its line and reason, so the rest of the class is graded.
import { describe, expect, test } from 'vitest'
import { parseStudentsCsv, StudentsCsvError } from '../../harness/grade/class.ts'
import { canvasCsv, moodleCsv } from '../../harness/grade/gradebook.ts'
import type { StudentGrade } from '../../harness/grade/grade.ts'
import { hostKeyMessage } from '../../harness/grade/targets.ts'
import { buildingStep, parseGradingFile, scoreSections } from '../../harness/grade/weights.ts'
import { loadScenarios, selectScenarios, type LoadedScenario } from '../../harness/scenario/loader.ts'

const [lab] = selectScenarios(await loadScenarios(), ['veth-bridge-nat']) as [LoadedScenario]

describe('students.csv', () => {
  test('mistakes in the file as a whole name the file and line', () => {
    expect(() => parseStudentsCsv('name,target\nann,"ssh://root@10.0.0.5\n', '/c/s.csv')).toThrow(new StudentsCsvError('/c/s.csv:2: a quoted field opens on this line and is never closed'))
    expect(() => parseStudentsCsv('name,host\nann,local\n', '/c/s.csv')).toThrow('/c/s.csv:1: no "target" column')
    expect(() => parseStudentsCsv('name,target,grade\n', '/c/s.csv')).toThrow('/c/s.csv:1: unknown column "grade"')
    expect(() => parseStudentsCsv('', '/c/s.csv')).toThrow('/c/s.csv:1: empty')
  })

  test('every bad row is kept, marked with its line and why; the good ones are untouched', () => {
    const students = parseStudentsCsv([
      'name,target,identity,email',
      'ann,ssh://root@10.0.0.5,keys/k,ann@school.example',
      'bob,,keys/k',
      'cid,ftp://10.0.0.7,keys/k',
      'dee,ssh://root@10.0.0.8,keys/k,dee@school.example,extra',
      ',ssh://root@10.0.0.9',
      'ann,local',
    ].join('\n'), '/c/s.csv')
    expect(students.map((s) => [s.name, s.invalid ?? 'ok'])).toEqual([
      ['ann', 'ok'],
      ['bob', '/c/s.csv:3: bob has no target (ssh://user@host[:port], local, or docker:CONTAINER)'],
      ['cid', '/c/s.csv:4: "ftp://10.0.0.7" is not a target; the forms are ssh://user@host[:port], local, or docker:CONTAINER'],
      ['dee', '/c/s.csv:5: 5 fields, but the header names 4 columns (name, target, identity, email); a field with a comma is written in double quotes'],
      ['line 6', '/c/s.csv:6: the student has no name'],
      ['ann', '/c/s.csv:7: "ann" is listed twice (also on line 2); names must be unique, they name the report files'],
    ])
    expect(students[0]).toEqual({ name: 'ann', target: 'ssh://root@10.0.0.5', identityFile: '/c/keys/k', email: 'ann@school.example' })
  })
})

describe('host keys', () => {
  test('a refused key is named once, with the three places to pin it and which wins', () => {
    const refused = 'ssh root@10.0.0.5:22: host key verification failed: the host presented SHA256:abc, expected SHA256:def. If the host was reinstalled and SHA256:abc is right, pin it with the host key fingerprint SHA256:abc (ssh-keygen -lf <host key>.pub on the host shows it)'
    const message = hostKeyMessage(refused, 'ssh://root@10.0.0.5', '/home/t/known_hosts', true)!
    expect(message.match(/SHA256:abc/g)).toHaveLength(1)
    expect(message).toBe('ssh://root@10.0.0.5: the machine\'s host key is SHA256:abc, which /home/t/known_hosts does not match, so labproof did not log in. ' +
      'If this is the student\'s machine (check with ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on it), pin it in one of three places: --host-key-sha256 FP (one machine), ' +
      'the host_key_sha256 column of the students\' CSV, or a known_hosts file (--known-hosts FILE, default ~/.ssh/known_hosts); the CSV column wins over --host-key-sha256, which wins over known_hosts.')
    expect(hostKeyMessage('ssh x: authentication refused', 'x', 'y', true)).toBeUndefined()
  })
})

describe('the grading file', () => {
  test('mistakes name the file and line', () => {
    expect(() => parseGradingFile('sections:\n  nope: 3\n', '/s/lab.grading.yaml', lab)).toThrow(/^\/s\/lab\.grading\.yaml:2: no section "nope" in .*001-veth-bridge-nat\.yaml; its sections are: /)
    expect(() => parseGradingFile('points:\n  step 2: 3\n', '/s/lab.grading.yaml', lab)).toThrow(/^\/s\/lab\.grading\.yaml:2: step 2 of .* is not a check/)
    expect(() => parseGradingFile('weights: {}\n', '/s/lab.grading.yaml', lab)).toThrow('/s/lab.grading.yaml:1: weights: unknown field "weights"; the fields are sections, points, exclude, endstate')
  })

  test('an item belongs to the section whose command builds it', () => {
    expect(buildingStep(lab, { words: ['default', '192.168.28.5', 'ns3'] }).section).toBe('step3:实现可以和主机之间通讯')
    expect(buildingStep(lab, { words: ['veth-3-br', 'vbridge'] }).section).toBe('step2:创建虚拟交换机')
    expect(buildingStep(lab, { words: ['net.ipv4.ip_forward', 'net/ipv4/ip_forward'], setting: true }).section).toBe('step4:namespace实现可以和外网通讯')
    expect(buildingStep(lab, { words: ['ns2'] }).section).toBe('步骤1:创建三个network namespace')
  })

  test('a section\'s total spreads over what it holds; partial credit per section', () => {
    const g = parseGradingFile('sections:\n  "step4:namespace实现可以和外网通讯": 6\n', '/s/lab.grading.yaml', lab)
    const { sections, entries } = scoreSections([
      { section: 'step4:namespace实现可以和外网通讯', points: 1, earned: 1, status: 'passed' as const },
      { section: 'step4:namespace实现可以和外网通讯', points: 2, earned: 0, status: 'failed' as const },
      { section: 'step4:namespace实现可以和外网通讯', points: 1, earned: 0, status: 'needs-setup' as const },
      { section: 'step3:实现可以和主机之间通讯', points: 1, earned: 1, status: 'passed' as const },
    ], lab, g)
    expect(sections).toEqual([{ section: 'step3:实现可以和主机之间通讯', score: 1, max: 1 }, { section: 'step4:namespace实现可以和外网通讯', score: 2, max: 6 }])
    expect(entries.map((e) => e.points)).toEqual([2, 4, 1, 1])
  })
})

describe('grade books', () => {
  const grade = (name: string, score: number, error?: string) => ({
    name, score, max: 23, percent: Math.round((score / 23) * 1000) / 10, sections: [{ section: 's1', score, max: 23 }], checks: [], ...(error ? { error } : {}),
  }) as unknown as StudentGrade
  const students = [{ name: 'ann', target: 'local', email: 'ann@school.example', lmsId: 'S1' }, { name: 'bob', target: 'local' }]

  test('Moodle: Email address, ID number, the lab\'s column, Feedback', () => {
    expect(moodleCsv([grade('ann', 20), grade('bob', 0, 'cannot reach 10.0.0.6:22')], students, 'Lab 1').split('\r\n')).toEqual([
      'Email address,ID number,Lab 1,Feedback',
      'ann@school.example,S1,20,20/23 (87%). s1 20/23',
      ',,0,Not graded: cannot reach 10.0.0.6:22',
      '',
    ])
  })

  test('Canvas: Student, ID, SIS User ID, SIS Login ID, Section, the lab; Points Possible second', () => {
    expect(canvasCsv([grade('ann', 20)], students, 'Lab 1').split('\r\n')).toEqual([
      'Student,ID,SIS User ID,SIS Login ID,Section,Lab 1', 'Points Possible,,,,,23', 'ann,,S1,ann@school.example,,20', '',
    ])
  })
})
