// Scenario and document in step: run: steps verbatim and in order, unless added: true; a drift
// names the step and the document's nearest line. Documents here are written for the tests.
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { checkScenarioSource, commandOccurrences, runStepsOf, syncSteps } from '../../harness/scenario/source-sync.ts'
import { testTempDir } from '../helpers/temp-dir.ts'

const doc = [
  'Make two namespaces:',              // 1
  '',                                  // 2
  'ip netns add a',                    // 3
  '[root@node1 ~]# ip netns add b',    // 4
  '  • echo 1 > /proc/sys/net/ipv4/ip_forward #临时',  // 5
  'We then run ip link show in prose.', // 6
  '$ ip link show',                    // 7
].join('\n')

function scenario(steps: string): string {
  return `id: t\ntitle: t\nsource: { doc: doc.txt, section: s }\nsteps:\n${steps}`
}

describe('source sync', () => {
  test('a command stands in the document behind a prompt, a bullet or a comment, never inside prose', () => {
    const lines = doc.split('\n')
    expect(commandOccurrences(lines, 'ip netns add b')).toEqual([3])
    expect(commandOccurrences(lines, 'echo 1 > /proc/sys/net/ipv4/ip_forward')).toEqual([4])
    expect(commandOccurrences(lines, 'ip link show')).toEqual([6])
  })

  test('a command a scraped page runs into the next heading stands there; one glued to other words does not', () => {
    const lines = ['ip link set br0 upCheck The Bridge', 'ip link set br1 upstream', 'ip link set br2 upVery slow here'].map((l) => l)
    expect(commandOccurrences(lines, 'ip link set br0 up')).toEqual([0])
    expect(commandOccurrences(lines, 'ip link set br1 up')).toEqual([])
    expect(commandOccurrences(lines, 'ip link set br2 up')).toEqual([])
  })

  test('steps in the document\'s order are in step; added steps are not looked for', () => {
    const text = scenario([
      '  - { on: host01, run: ip netns add a }',
      '  - { on: host01, run: ip netns add b }',
      '  - { on: host01, run: ip link add x type veth, added: true }',
      '  - { on: host01, run: ip link show }',
    ].join('\n'))
    expect(syncSteps(runStepsOf(text), doc).drifts).toEqual([])
  })

  test('a changed command is named with the nearest document line', () => {
    const text = scenario(['  - { on: host01, run: ip netns add a }', '  - { on: host01, run: ip netns add c }', '  - { on: host01, run: ip link show }'].join('\n'))
    const { drifts } = syncSteps(runStepsOf(text), doc)
    expect(drifts).toHaveLength(1)
    expect(drifts[0]!.step.run).toBe('ip netns add c')
    expect(drifts[0]!.step.line).toBe(6)
    expect(drifts[0]!.problem).toMatch(/not in the document; between the document's lines 3 and 7 the nearest line is 4: `\[root@node1 ~\]# ip netns add b`/)
  })

  test('a step out of order is the one named, not every step after it', () => {
    const text = scenario(['  - { on: host01, run: ip netns add a }', '  - { on: host01, run: ip netns add b }', '  - { on: host01, run: ip link show }', '  - { on: host01, run: ip netns add b }'].join('\n'))
    const { drifts } = syncSteps(runStepsOf(text), doc)
    expect(drifts.map((d) => d.step.index)).toEqual([3])
    expect(drifts[0]!.problem).toMatch(/out of the document's order: the document gives it at line 4/)
  })

  test('the document is found beside the scenario or in a document folder, and skipped with the reason when absent', async () => {
    const dir = testTempDir('sync')
    const docs = path.join(dir, 'docs')
    const file = path.join(dir, 't.yaml')
    const text = scenario('  - { on: host01, run: ip netns add z }')
    const absent = await checkScenarioSource(file, text, 'doc.txt', [])
    expect(absent).toMatchObject({ status: 'no-document' })
    await import('node:fs/promises').then((fs) => fs.mkdir(docs))
    await writeFile(path.join(docs, 'doc.txt'), doc)
    const drift = await checkScenarioSource(file, text, 'doc.txt', [docs])
    expect(drift.status).toBe('drift')
    if (drift.status === 'drift') expect(drift.error.message).toMatch(/t\.yaml:5: steps\[0\] runs `ip netns add z`/)
    await writeFile(path.join(dir, 'doc.txt'), 'ip netns add z\n')
    expect(await checkScenarioSource(file, text, 'doc.txt', [docs])).toMatchObject({ status: 'in-step', steps: 1, added: 0 })
  })
})
