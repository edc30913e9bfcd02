import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { failedTestcases } from '../soak/junit-failures.ts'

// A real reports/junit.xml from a run whose scenario claimed ttl 62 where the lab gives 63.
const fixture = readFileSync(new URL('../fixtures/junit/vitest-ttl-failure.xml', import.meta.url), 'utf8')

describe('the failed steps of a kept soak run', () => {
  test('names each failed step with the first line of its verdict', () => {
    expect(failedTestcases(fixture)).toEqual([
      'namespace-routing: Route between two namespaces through the host > step 36: [host01] ip netns exec ns1 ping 10.10.20.2: expected `ip netns exec ns1 ping 10.10.20.2` on host01: every reply with ttl 62',
    ])
  })

  test('passed and skipped testcases are not failures', () => {
    const withoutFailure = fixture.replace(/<failure[\s\S]*?<\/failure>/, '')
    expect(failedTestcases(withoutFailure)).toEqual([])
  })

  test('an error element counts, and a message-less one falls back to its text', () => {
    expect(failedTestcases('<testcase name="a &amp; b"><error>\n  boom &lt;here&gt;\n</error></testcase>')).toEqual(['a & b: boom <here>'])
  })
})
