// The capture windows a step opens, from the step itself: what the engine starts ahead of it.
import { describe, expect, test } from 'vitest'
import { stepCaptureWindows } from '../../harness/scenario/run-step.ts'
import type { CheckStep, RunStep } from '../../harness/scenario/schema.ts'

describe('stepCaptureWindows', () => {
  test("a ping check's window is its own capture where the ping is sent", () => {
    const step = { check: { ping: { from: 'host01/ns1', to: '10.0.0.2', reachable: false, count: 3 } } } as unknown as CheckStep
    expect(stepCaptureWindows(step)).toEqual([[{ on: 'host01/ns1:any', filter: 'icmp and host 10.0.0.2' }]])
  })

  test("a step's wire claims and the scenario's captures are one window; an erratum's checks have their own", () => {
    const step = {
      on: 'host01', run: 'route add 10.0.0.0 mask 255.0.0.0 10.1.0.1',
      wire: [{ on: 'host01:v1', filter: 'icmp', match: {}, max: 0 }],
      erratum: { corrected: 'true', why: '', shows: [{ ping: { from: 'host01/vm', to: '10.0.0.9', reachable: false, count: 3 } }] },
    } as unknown as RunStep
    expect(stepCaptureWindows(step, [{ on: 'host02:any' }])).toEqual([
      [{ on: 'host02:any' }, { on: 'host01:v1', filter: 'icmp' }],
      [{ on: 'host01/vm:any', filter: 'icmp and host 10.0.0.9' }],
    ])
  })

  test('a step with no capture opens no window', () => {
    expect(stepCaptureWindows({ on: 'host01', run: 'ip link' } as unknown as RunStep)).toEqual([])
  })
})
