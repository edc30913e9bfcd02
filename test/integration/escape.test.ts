// The escape suite (test/escape/hostile.yaml): at least 25 hostile commands on a lab of each
// local backend, none of which may reach this machine; the machine's snapshot is the same
// before and after. `npm run escape` runs the same suite for a person.
// A suite whose engine is missing skips, saying why, or fails when LABPROOF_REQUIRE names it.
import { describe, expect } from 'vitest'
import { backendByName } from '../../harness/backends/index.ts'
import { dockerMissingForEscape } from '../escape/docker-available.ts'
import { formatReport, runEscapeSuite } from '../escape/escape-suite.ts'
import { rootMissing, testWithEngine } from '../helpers/engines.ts'

const noRoot = rootMissing()
const noDocker = noRoot ?? dockerMissingForEscape()

describe('hostile commands stay inside their host', () => {
  testWithEngine('root', noRoot, 'on netns (needs root)', async () => {
    const report = await runEscapeSuite(await backendByName('netns'))
    expect(report.tried).toBeGreaterThanOrEqual(25)
    expect(formatReport(report)).toBe(`netns: ${report.tried} hostile effects tried, 0 escaped\n  the machine snapshot is the same before and after`)
  }, 300_000)

  testWithEngine('docker', noDocker, 'on docker (needs root, a docker engine and labproof\'s host image)', async () => {
    const report = await runEscapeSuite(await backendByName('docker'))
    expect(report.tried).toBeGreaterThanOrEqual(25)
    expect(formatReport(report)).toBe(`docker: ${report.tried} hostile effects tried, 0 escaped\n  the machine snapshot is the same before and after`)
  }, 600_000)
})
