// Shell metacharacters in every string field of the scenario schema: each field is either refused
// at load (with its file, line and field), or listed below with why it is safe (text that is only
// shown or compared, a tcpdump filter passed quoted, or a command of the write-up that runs in
// the host by design). A field added to the schema without a decision fails this test. And a
// quoted value runs nothing: the payload passed through shellQuote to a real sh comes back as
// it was, with no marker file made. (test/integration/escape.test.ts and the netns tests run
// the filters on a real lab.)
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { z } from 'zod'
import { shellQuote } from '../../harness/host.ts'
import { parseScenario, ScenarioError } from '../../harness/scenario/loader.ts'
import { scenario as scenarioSchema } from '../../harness/scenario/schema.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'labproof-meta-'))
const marker = path.join(dir, 'ran')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Each way sh could be made to run `touch MARKER`. */
const PAYLOADS = [
  `x;touch ${marker}`, `$(touch ${marker})`, `\`touch ${marker}\``, `x|touch ${marker}`, `x&&touch ${marker}`, `x&touch ${marker}`,
  `x'; touch ${marker}; '`, `x"; touch ${marker}; "`, `x\ntouch ${marker}`, `>${marker}`, `x #; touch ${marker}`, `\${IFS}touch\${IFS}${marker}`,
]

/** Fields that take any text, and why that is safe. */
const ACCEPTED: Record<string, string> = {
  title: 'shown in reports',
  'source.doc': 'a file name looked up with fs, never given to a shell',
  'source.section': 'shown in reports',
  'capture[].filter': 'tcpdump filter, passed quoted (shellQuote) into the capture script',
  'steps[].capture[].filter': 'tcpdump filter, passed quoted',
  'steps[].wire[].filter': 'tcpdump filter, passed quoted',
  'steps[].run': 'a command of the write-up: runs in the host by design',
  'steps[].input': "standard input of the write-up's command, written to a file",
  'steps[].erratum.corrected': 'a command of the write-up (its correction): runs in the host by design',
  'steps[].erratum.why': 'shown in reports',
  'steps[].note': 'shown in reports',
  'steps[].section': 'shown in reports',
  'steps[].hint': 'shown to a student',
  'steps[].name': 'shown in reports',
  'steps[].check.iptables.rule': 'compared with what iptables -S prints',
  'steps[].erratum.shows[].iptables.rule': 'compared with what iptables -S prints',
  'steps[].check.sysctl.value': 'compared with what sysctl -n prints',
  'steps[].erratum.shows[].sysctl.value': 'compared with what sysctl -n prints',
}
for (const e of ['steps[].expect', 'steps[].erratum.expect', 'steps[].expect.variants[]', 'steps[].erratum.expect.variants[]']) {
  for (const f of ['contains', 'contains[]', 'notContains', 'notContains[]', 'output', 'matches']) ACCEPTED[`${e}.${f}`] = 'compared with what the command printed'
}
for (const f of ['says', 'correction', 'why', 'untestable']) ACCEPTED[`claims[].${f}`] = 'shown in the review'
ACCEPTED['steps[].expect.variants[].when'] = 'shown in reports'
ACCEPTED['steps[].erratum.expect.variants[].when'] = 'shown in reports'

/** Every string-valued field of the scenario schema: `a.b`, `list[]`, `record.*` (a value) and
 *  `record.<key>` (a key), from its JSON schema. */
function stringFields(): string[] {
  const root = z.toJSONSchema(scenarioSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
  const out = new Set<string>()
  const walk = (node: Record<string, unknown> | undefined, p: string, depth: number) => {
    if (!node || typeof node !== 'object' || node.$ref || depth > 12) return
    const type = node.type
    if (type === 'string' || (Array.isArray(type) && type.includes('string'))) out.add(p)
    for (const k of ['anyOf', 'oneOf', 'allOf'] as const) for (const n of (node[k] as Record<string, unknown>[] | undefined) ?? []) walk(n, p, depth + 1)
    for (const [k, v] of Object.entries((node.properties as Record<string, Record<string, unknown>> | undefined) ?? {})) walk(v, p ? `${p}.${k}` : k, depth + 1)
    if (node.items) walk(node.items as Record<string, unknown>, `${p}[]`, depth + 1)
    if (node.additionalProperties && typeof node.additionalProperties === 'object') {
      walk(node.additionalProperties as Record<string, unknown>, `${p}.*`, depth + 1)
      if (node.propertyNames) out.add(`${p}.<key>`)
    }
  }
  walk(root, '', 0)
  return [...out].sort()
}

/** The smallest valid body of each check kind. */
const MINIMAL_CHECK: Record<string, Record<string, unknown>> = {
  ping: { from: 'host01', to: '10.0.0.1' },
  route: { on: 'host01', dst: 'default' },
  link: { on: 'host01', name: 'v1' },
  bridge: { on: 'host01', name: 'br0', ports: { v1: 'forwarding' } },
  sysctl: { on: 'host01', key: 'net.ipv4.ip_forward', value: 1 },
  iptables: { on: 'host01', chain: 'INPUT', rule: '-j ACCEPT' },
  nat: { from: 'host01', to: '8.8.8.8', masqueraded: true },
  mtu: { on: 'host01', name: 'v1', mtu: 1500 },
}

/** A scenario, valid but for `value` placed at `field`. */
function scenarioWith(field: string, value: string): Record<string, unknown> {
  const s: Record<string, unknown> = { id: 't', title: 'T', source: { doc: 'x.txt', section: 's' }, steps: [{ on: 'host01', run: 'ls' }] }
  let rest = field
  let target: Record<string, unknown> = s
  // A claim valid but for the field: a refuted one carries its correction and why.
  if (field.startsWith('claims[].')) s.claims = [/correction|why/.test(field) ? { id: 'c', line: 1, says: 's', holds: false, correction: 'c', why: 'w' } : { id: 'c', line: 1, says: 's', holds: true }]
  if (field.startsWith('steps[].')) {
    rest = field.slice('steps[].'.length)
    const kind = /^(?:check|erratum\.shows\[\])\.(\w+)/.exec(rest)?.[1]
    if (kind && !MINIMAL_CHECK[kind]) throw new Error(`no minimal body for the check kind "${kind}": add one to MINIMAL_CHECK`)
    const step: Record<string, unknown> =
      rest.startsWith('check.') ? { check: { [kind!]: structuredClone(MINIMAL_CHECK[kind!]) } }
        : rest.startsWith('erratum.shows[].') ? { on: 'host01', run: 'ls', erratum: { corrected: 'ls', why: 'w', shows: [{ [kind!]: structuredClone(MINIMAL_CHECK[kind!]) }] } }
          : rest.startsWith('erratum.') ? { on: 'host01', run: 'ls', erratum: { corrected: 'ls', why: 'w', ...(rest.includes('variants') ? { expect: { variants: [{ when: 'a' }, { when: 'b' }] } } : {}) } }
            : rest.startsWith('expect.variants') ? { on: 'host01', run: 'ls', expect: { variants: [{ when: 'a' }, { when: 'b' }] } }
              : rest === 'section' ? { section: 's' }
                : rest === 'hint' || rest === 'name' ? { check: { ping: structuredClone(MINIMAL_CHECK.ping) } }
                  : { on: 'host01', run: 'ls' }
    s.steps = [step]
    target = step
  }
  const parts = rest.split('.')
  for (const [i, raw] of parts.entries()) {
    const last = i === parts.length - 1
    const list = raw.endsWith('[]')
    const name = list ? raw.slice(0, -2) : raw
    if (name === '<key>') {
      const entries = Object.entries(target)
      const sample = entries[0]?.[1] ?? {}
      for (const k of Object.keys(target)) delete target[k]
      target[value] = sample
      return s
    }
    const key = name === '*' ? (Object.keys(target)[0] ?? 'k') : name
    if (last) {
      target[key] = list ? [value] : value
      return s
    }
    if (list) {
      const element = key === 'capture' ? { on: 'host01:ens33' } : key === 'wire' ? { on: 'host01:ens33', match: { proto: 'icmp' } } : {}
      const arr = (target[key] as Record<string, unknown>[] | undefined) ?? [element]
      target[key] = arr
      target = arr[0]!
    } else {
      target[key] = (target[key] as Record<string, unknown> | undefined) ?? (key === 'hosts' ? { host01: {} } : key === 'ports' ? { v1: 'forwarding' } : {})
      target = target[key] as Record<string, unknown>
    }
  }
  return s
}

function load(field: string, payload: string): ScenarioError | 'accepted' {
  try {
    parseScenario(JSON.stringify(scenarioWith(field, payload), null, 1), 'meta.yaml')
    return 'accepted'
  } catch (e) {
    if (e instanceof ScenarioError) return e
    throw e
  }
}

describe('shell metacharacters in every string field of a scenario', () => {
  const fields = stringFields()

  test('the schema has the string fields this test knows how to fill', () => {
    expect(fields.length).toBeGreaterThan(80)
    for (const f of fields) expect(() => scenarioWith(f, 'x'), f).not.toThrow()
  })

  test.each(stringFields())('%s: refused at load, or text that never reaches a shell unquoted', (field) => {
    const outcomes = PAYLOADS.map((p) => load(field, p))
    if (field in ACCEPTED) {
      expect(outcomes.filter((o) => o !== 'accepted').map((o) => (o as Error).message), `${field} is listed as accepted (${ACCEPTED[field]})`).toEqual([])
    } else {
      for (const o of outcomes) {
        expect(o, `${field} took a payload but is not listed as safe to take any text`).toBeInstanceOf(ScenarioError)
        expect((o as ScenarioError).message).toMatch(/^meta\.yaml:\d+:\d+: \S/)
        // The message names the field (for a record key: the record).
        const named = field.replace(/\[\]/g, '').split('.').filter((s) => s !== '*' && s !== '<key>').at(-1)!
        expect((o as ScenarioError).field).toContain(named)
      }
    }
    expect(existsSync(marker)).toBe(false)
  })

  test.each(PAYLOADS)('quoted for sh, %j comes back as it was and runs nothing', (payload) => {
    const r = spawnSync('sh', ['-c', `printf %s ${shellQuote(payload)}`], { encoding: 'utf8' })
    expect(r.stdout).toBe(payload)
    expect(existsSync(marker)).toBe(false)
  })
})
