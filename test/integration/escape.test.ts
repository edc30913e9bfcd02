// The escape suite (test/escape/hostile.yaml): at least 25 hostile commands on a lab of each
// local backend, none of which may reach this machine; the machine's snapshot is the same
// before and after. `npm run escape` runs the same suite for a person.
import { describe, expect, test } from 'vitest'
import { backendByName } from '../../harness/backends/index.ts'
import { dockerAnswers } from '../escape/docker-available.ts'
import { formatReport, runEscapeSuite } from '../escape/escape-suite.ts'

const root = process.getuid?.() === 0
const docker = root && (await dockerAnswers())

describe('hostile commands stay inside their host', () => {
  test.skipIf(!root)('on netns (needs root)', async () => {
    const report = await runEscapeSuite(await backendByName('netns'))
    expect(report.tried).toBeGreaterThanOrEqual(25)
    expect(formatReport(report)).toBe(`netns: ${report.tried} hostile effects tried, 0 escaped\n  the machine snapshot is the same before and after`)
  }, 300_000)

  test.skipIf(!docker)('on docker (needs root, a docker engine and labproof\'s host image)', async () => {
    const report = await runEscapeSuite(await backendByName('docker'))
    expect(report.tried).toBeGreaterThanOrEqual(25)
    expect(formatReport(report)).toBe(`docker: ${report.tried} hostile effects tried, 0 escaped\n  the machine snapshot is the same before and after`)
  }, 600_000)
})
