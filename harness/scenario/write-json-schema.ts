// Writes scenarios/schema.json from the zod schema, for editors (`npm run schema`).
// test/unit/json-schema.test.ts fails when the committed file is out of date.
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { SHIPPED_SCENARIO_DIR } from '../package-info.ts'
import { scenario } from './schema.ts'

export const JSON_SCHEMA_PATH = path.join(SHIPPED_SCENARIO_DIR, 'schema.json')

/** The schema's identity: where the published package serves it. Editors find the file itself
 *  through the scenario's `# yaml-language-server: $schema=` line (labproof init writes one). */
export const SCHEMA_ID = 'https://unpkg.com/labproof/scenarios/schema.json'

export function scenarioJsonSchema(): string {
  const schema = z.toJSONSchema(scenario, { io: 'input', unrepresentable: 'any' })
  return `${JSON.stringify({ $id: SCHEMA_ID, title: 'labproof scenario', ...(withoutTypeLists(schema) as Record<string, unknown>) }, null, 2)}\n`
}

/** `type: [string, number]` as `anyOf` of single types: what ajv's strict mode (strictTypes)
 *  accepts without complaint, and the same meaning. */
function withoutTypeLists(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutTypeLists)
  if (!node || typeof node !== 'object') return node
  const out = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, k === 'type' ? v : withoutTypeLists(v)]))
  if (Array.isArray(out.type) && !('anyOf' in out)) {
    const { type, ...rest } = out
    return { ...rest, anyOf: (type as string[]).map((t) => ({ type: t })) }
  }
  return out
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeFile(JSON_SCHEMA_PATH, scenarioJsonSchema())
  process.stdout.write(`wrote ${JSON_SCHEMA_PATH}\n`)
}
