// A directory of the test's own under the system's temp dir, removed when the test finishes
// (pass or fail), so test runs leave nothing in /tmp.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { onTestFinished } from 'vitest'

export function testTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `labproof-${prefix}-`))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
