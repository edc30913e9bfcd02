// labproof's JUnit writer and reader: what CI systems read (classname, file, line, skip
// reasons, one-line failure messages), escaping of what commands print, and a round trip
// (what `labproof report merge` relies on).
import { describe, expect, test } from 'vitest'
import { junitXml, parseJunit, type JunitSuite } from '../../harness/report/junit.ts'
import { verdictLine, withHint } from '../../harness/report/verdict.ts'
import { CheckFailure } from '../../harness/checks/check-failure.ts'

const suites: JunitSuite[] = [{
  name: 'ipip-tunnels: ipip tunnels',
  file: 'scenarios/000-ipip-tunnels.yaml',
  properties: { scenario: 'ipip-tunnels', cell: 'netns' },
  cases: [
    { name: 'step 2: [host01] ip netns add ns1', classname: 'ipip-tunnels', file: 'scenarios/000-ipip-tunnels.yaml', line: 9, timeS: 0.012, outcome: { status: 'passed' }, systemOut: '$ [host01] ip netns add ns1\nexit 0 after 12 ms' },
    { name: 'step 14: [host01] ip tunnel add tun1 mode ipip', classname: 'ipip-tunnels', file: 'scenarios/000-ipip-tunnels.yaml', line: 21, timeS: 0, outcome: { status: 'skipped', message: 'host01: kernel lacks ipip (CONFIG_NET_IPIP)' } },
    { name: 'step 36: ping 10.10.20.2 from host01/ns1 (ttl 63)', classname: 'ipip-tunnels', file: 'scenarios/000-ipip-tunnels.yaml', line: 57, timeS: 1.5, outcome: { status: 'failed', message: 'expected every reply with ttl 63; got ttl 64', type: 'CheckFailure', detail: 'expected every reply with ttl 63\n     got ttl 64\nsuggested fix: route through the host' }, systemOut: 'stdout:\n  \x1b[1mbold\x1b[0m <tag> & "quotes"\x00' },
  ],
}]

describe('JUnit', () => {
  const xml = junitXml(suites)

  test('a skipped step carries its reason; classname is the scenario id; file and line name the YAML', () => {
    expect(xml).toContain('<testcase classname="ipip-tunnels" name="step 14: [host01] ip tunnel add tun1 mode ipip" file="scenarios/000-ipip-tunnels.yaml" line="21" time="0">')
    expect(xml).toContain('<skipped message="host01: kernel lacks ipip (CONFIG_NET_IPIP)"/>')
  })

  test('totals count failures and skips, per suite and in all', () => {
    expect(xml).toMatch(/<testsuites name="labproof" tests="3" failures="1" errors="0" skipped="1" time="1.512">/)
    expect(xml).toMatch(/<testsuite name="ipip-tunnels: ipip tunnels" tests="3" failures="1" errors="0" skipped="1" time="1.512" file="scenarios\/000-ipip-tunnels.yaml">/)
  })

  test('a failure\'s message is its one-line verdict; the body has the whole error and the hint', () => {
    expect(xml).toContain('<failure message="expected every reply with ttl 63; got ttl 64" type="CheckFailure">expected every reply with ttl 63\n     got ttl 64\nsuggested fix: route through the host</failure>')
  })

  test('what commands print is escaped, and characters XML cannot hold are shown as \\xNN', () => {
    expect(xml).toContain('\\x1b[1mbold\\x1b[0m &lt;tag&gt; &amp; "quotes"\\x00')
    expect(xml).not.toMatch(/[\x00-\x08\x0b\x0c\x0e-\x1f]/)
  })

  test('reading it back gives the same suites', () => {
    const back = parseJunit(xml)
    expect(back).toEqual(suites.map((s) => ({ ...s, cases: s.cases.map((c) => ({ ...c, ...(c.systemOut ? { systemOut: c.systemOut.replace(/\x1b/g, '\\x1b').replace(/\x00/g, '\\x00') } : {}) })) })))
  })

  test('a truncated file is refused, not read as fewer tests', () => {
    expect(() => parseJunit(xml.slice(0, xml.indexOf('</testsuite>')), 'reports/junit.xml')).toThrow(/reports\/junit.xml: malformed XML: <[a-z-]+> is never closed/)
    expect(() => parseJunit('', 'empty.xml')).toThrow(/empty.xml: empty/)
  })

  test('JUnit from other writers (vitest\'s, with CDATA and a bare <skipped/>) is read too', () => {
    const other = '<?xml version="1.0"?>\n<testsuites><testsuite name="a.test.ts"><testcase classname="a.test.ts" name="x" time="0.5"><failure message="boom"><![CDATA[Error: boom <at> here]]></failure></testcase><testcase classname="a.test.ts" name="y"><skipped/></testcase></testsuite></testsuites>'
    const [s] = parseJunit(other)
    expect(s!.cases.map((c) => c.outcome)).toEqual([
      { status: 'failed', message: 'boom', detail: 'Error: boom <at> here' },
      { status: 'skipped', message: '' },
    ])
  })
})

describe('verdicts', () => {
  test('a check failure reads as one line: expected …; got …', () => {
    expect(verdictLine(new CheckFailure('`ping 10.10.20.2` on host01: every reply with ttl 64', 'ttl 63', 'evidence\nlines'))).toBe('expected `ping 10.10.20.2` on host01: every reply with ttl 64; got ttl 63')
  })

  test('another error reads as its first line', () => {
    expect(verdictLine(new Error('\n`ip link set v9 up` on host01 exited 1\nstderr: Cannot find device "v9"'))).toBe('`ip link set v9 up` on host01 exited 1')
  })

  test('the hint is added to the error once, as the suggested fix', () => {
    const e = withHint(withHint(new Error('expected v1 up\n     got down'), 'ip link set v1 up'), 'ip link set v1 up')
    expect(e.message).toBe('expected v1 up\n     got down\nsuggested fix: ip link set v1 up')
  })
})
