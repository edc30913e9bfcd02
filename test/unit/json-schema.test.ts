import { readFile } from 'node:fs/promises'
import { expect, test } from 'vitest'
import { JSON_SCHEMA_PATH, scenarioJsonSchema } from '../../harness/scenario/write-json-schema.ts'

test('scenarios/schema.json is generated from the current schema (run `npm run schema`)', async () => {
  expect(await readFile(JSON_SCHEMA_PATH, 'utf8')).toBe(scenarioJsonSchema())
})
