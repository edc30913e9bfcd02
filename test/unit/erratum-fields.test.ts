// An erratum can name where its correction runs and the checks that show the defect; both are
// validated like any target, and the hosts and tools they need are part of the step's needs.
import { describe, expect, test } from 'vitest'
import { parseScenario } from '../../harness/scenario/loader.ts'
import { stepHosts, stepRequirements } from '../../harness/scenario/requirements.ts'

const HEAD = `id: t
title: T
source: { doc: x.txt, section: s }
steps:
`
const STEP = `  - on: host01/ns1
    run: route add -net 10.10.30.0/24 gw 192.168.21.12 dev ens33
    expect: { exitCode: nonzero }
    erratum:
      on: host01
      corrected: route add -net 10.10.30.0/24 gw 192.168.21.12 dev ens33
      why: the document labels this host route ns1
      shows:
        - { route: { on: host01/ns1, dst: 10.10.30.0/24, present: false } }
        - { sysctl: { on: host02, key: net.ipv4.ip_forward, value: 0 } }
`

describe('erratum.on and erratum.shows', () => {
  test('load, and the step needs every host and tool they name', () => {
    const s = parseScenario(HEAD + STEP, 'ok.yaml')
    const step = s.steps[0]!
    expect(stepHosts(step)).toEqual(['host01', 'host02'])
    expect(stepRequirements(step).tools).toEqual(expect.arrayContaining(['route', 'ip', 'sysctl']))
  })

  test('an unknown host in erratum.on is refused with its line', () => {
    expect(() => parseScenario(HEAD + STEP.replace('on: host01\n', 'on: host09\n'), 'bad.yaml'))
      .toThrow(/^bad\.yaml:9:11: steps\[0\]\.erratum\.on: unknown host "host09"/)
  })

  test('an unknown host in a check of erratum.shows is refused', () => {
    expect(() => parseScenario(HEAD + STEP.replace('on: host02, key', 'on: hots02, key'), 'bad.yaml'))
      .toThrow(/steps\[0\]\.erratum\.shows\[1\]\.sysctl\.on: unknown host "hots02"/)
  })

  test('shows holds checks, not commands', () => {
    expect(() => parseScenario(HEAD + STEP.replace('- { sysctl', '- { run'), 'bad.yaml')).toThrow(/erratum\.shows\[1\]/)
  })
})
