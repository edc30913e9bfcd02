// The scenario JSON schema as editors and other tools read it: it has an $id, compiles under
// ajv's strict mode (every strict option an error, not a warning), and agrees with the loader
// on the example `labproof init` writes and on the shipped scenarios.
import { readFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { describe, expect, test } from 'vitest'
import { parse } from 'yaml'
import { EXAMPLE_SCENARIO, SCHEMA_REFERENCE } from '../../harness/init.ts'
import { SHIPPED_SCENARIO_DIR } from '../../harness/package-info.ts'
import { parseScenario } from '../../harness/scenario/loader.ts'
import { JSON_SCHEMA_PATH, SCHEMA_ID } from '../../harness/scenario/write-json-schema.ts'

const schema = JSON.parse(await readFile(JSON_SCHEMA_PATH, 'utf8')) as Record<string, unknown>

describe('scenarios/schema.json', () => {
  test('has an $id', () => {
    expect(schema.$id).toBe(SCHEMA_ID)
  })

  test('compiles under ajv with its default strict mode, and with every strict check an error', () => {
    expect(() => new Ajv2020().compile(schema)).not.toThrow()
    expect(() => new Ajv2020({ strict: true, strictTypes: true, strictTuples: true, logger: false }).compile(schema)).not.toThrow()
  })

  const validate = new Ajv2020().compile(schema)

  test('accepts the example labproof init writes, which the loader accepts too', () => {
    expect(validate(parse(EXAMPLE_SCENARIO)), JSON.stringify(validate.errors)).toBe(true)
    expect(parseScenario(EXAMPLE_SCENARIO, 'example.yaml').id).toBe('example-veth')
  })

  test('accepts every shipped scenario', async () => {
    const files = (await readdir(SHIPPED_SCENARIO_DIR)).filter((f) => /\.ya?ml$/.test(f))
    expect(files.length).toBeGreaterThan(0)
    for (const f of files) {
      const data: unknown = parse(await readFile(path.join(SHIPPED_SCENARIO_DIR, f), 'utf8'))
      expect(validate(data), `${f}: ${JSON.stringify(validate.errors)}`).toBe(true)
    }
  })

  test('refuses what the loader refuses: an unknown field, a step with neither run nor check', () => {
    expect(validate(parse(EXAMPLE_SCENARIO.replace('title:', 'titel:')))).toBe(false)
    expect(validate({ ...parse(EXAMPLE_SCENARIO), steps: [{ on: 'host01' }] })).toBe(false)
  })

  test("the example's editor reference names the schema where npm installs it", () => {
    expect(EXAMPLE_SCENARIO.split('\n')[0]).toBe(`# yaml-language-server: $schema=${SCHEMA_REFERENCE}`)
    expect(path.posix.join('/repo/scenarios', SCHEMA_REFERENCE)).toBe('/repo/node_modules/labproof/scenarios/schema.json')
  })
})
