// Writes scenarios/schema.json from the zod schema, for editors (`npm run schema`).
// test/unit/json-schema.test.ts fails when the committed file is out of date.
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { scenario } from './schema.ts'

export const JSON_SCHEMA_PATH = fileURLToPath(new URL('../../scenarios/schema.json', import.meta.url))

export function scenarioJsonSchema(): string {
  const schema = z.toJSONSchema(scenario, { io: 'input', unrepresentable: 'any' })
  return `${JSON.stringify({ title: 'labproof scenario', ...schema }, null, 2)}\n`
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeFile(JSON_SCHEMA_PATH, scenarioJsonSchema())
  process.stdout.write(`wrote ${JSON_SCHEMA_PATH}\n`)
}
