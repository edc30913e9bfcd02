// The check registry: every kind file in harness/checks/ is listed (kinds.ts) and drives the scenario schema,
// the JSON Schema, the loader's messages and grading's allowlist; a kind's probes are anchored,
// so grading's allowlist admits whole commands only.
import { readFile } from 'node:fs/promises'
import { expect, test } from 'vitest'
import { check, CHECK_KIND_NAMES, CHECK_KINDS, GRADING_PROBES } from '../../harness/checks/index.ts'
import { KIND_LIST_PATH, kindFiles, kindListSource } from '../../harness/checks/write-kind-list.ts'
import { isReadOnlyCommand } from '../../harness/grade/read-only-host.ts'
import { parseScenario } from '../../harness/scenario/loader.ts'
import { scenarioJsonSchema } from '../../harness/scenario/write-json-schema.ts'

test('every kind file is registered under its file name, in alphabetical order (kinds.ts is current: `npm run schema`)', async () => {
  expect(await readFile(KIND_LIST_PATH, 'utf8')).toBe(kindListSource())
  expect(kindFiles()).toEqual(expect.arrayContaining(['bridge', 'iptables', 'link', 'nat', 'ping', 'route', 'sysctl']))
  expect(CHECK_KIND_NAMES).toEqual(kindFiles())
  expect([...CHECK_KINDS.values()].map((k) => k.name)).toEqual(CHECK_KIND_NAMES)
})

test('the scenario schema and scenarios/schema.json have every kind, described', () => {
  const json = JSON.parse(scenarioJsonSchema()) as unknown
  const found = new Map<string, string | undefined>()
  const walk = (n: unknown): void => {
    if (!n || typeof n !== 'object') return
    const props = (n as { properties?: Record<string, { description?: string }> }).properties
    if (props && CHECK_KIND_NAMES.every((k) => k in props)) for (const k of CHECK_KIND_NAMES) found.set(k, props[k]!.description)
    for (const v of Object.values(n)) walk(v)
  }
  walk(json)
  expect([...found.keys()]).toEqual(CHECK_KIND_NAMES)
  for (const k of CHECK_KIND_NAMES) expect(found.get(k)).toBe(CHECK_KINDS.get(k)!.description)
  expect(check.safeParse({ route: { on: 'host01', dst: 'default' } }).success).toBe(true)
  expect(check.safeParse({ route: { on: 'host01', dst: 'default' }, sysctl: { on: 'host01', key: 'a', value: 1 } }).error?.issues[0]?.message)
    .toBe(`a check names exactly one kind: ${CHECK_KIND_NAMES.join(', ')}`)
})

test('the loader names the registered kinds when a check names another', () => {
  const yaml = 'id: t\ntitle: t\nsource: { doc: t.txt, section: s }\nsteps:\n  - check: { routes: { on: host01, dst: default } }\n'
  expect(() => parseScenario(yaml, 't.yaml')).toThrow(`t.yaml:5:14: steps[0].check.routes: unknown field "routes" (check kinds: ${CHECK_KIND_NAMES.join(', ')})`)
})

test("grading's allowlist is the kinds' probes, each anchored at both ends", () => {
  expect(GRADING_PROBES.length).toBeGreaterThan(0)
  for (const re of GRADING_PROBES) {
    expect(re.source.startsWith('^') && re.source.endsWith('$'), `${re} must match a whole command`).toBe(true)
  }
  expect(isReadOnlyCommand('ip -j route show')).toBe(true)
  expect(isReadOnlyCommand('ip -j route show; ip link set lo down')).toBe(false)
  expect(isReadOnlyCommand("ip -j -d addr show dev 'v1'")).toBe(true)
  expect(isReadOnlyCommand('ip -j -d addr show dev v1 && reboot')).toBe(false)
  // The end state's reads: keys, never sysctl's options that write.
  expect(isReadOnlyCommand('sysctl net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables')).toBe(true)
  expect(isReadOnlyCommand('iptables-save')).toBe(true)
  for (const writes of ['sysctl -p', 'sysctl --system', 'sysctl -w net.ipv4.ip_forward=1', 'sysctl net.ipv4.ip_forward=1', 'iptables-restore']) expect(isReadOnlyCommand(writes), writes).toBe(false)
})
