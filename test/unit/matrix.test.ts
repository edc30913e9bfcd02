// The scenario x cell table from the step results each cell recorded: a step skipped on one
// kernel for a missing feature shows as a skip there only, a failure names its step.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { formatMatrix, readMatrix } from '../../harness/report/matrix.ts'

const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function records(files: Record<string, object[]>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'labproof-matrix-'))
  dirs.push(dir)
  for (const [name, facts] of Object.entries(files)) await writeFile(path.join(dir, `${name}.jsonl`), facts.map((f) => JSON.stringify(f)).join('\n') + '\n')
  return dir
}

const A = 'qemu kernel 5.10'
const B = 'qemu kernel 6.1'
const LACKS = 'host01: kernel lacks ipip (CONFIG_NET_IPIP)'

describe('matrix', () => {
  test('a feature missing on one kernel is a skip on that kernel only', async () => {
    const dir = await records({
      'ipip-tunnels': [
        { kind: 'step', cell: A, step: 1, status: 'passed' },
        { kind: 'step', cell: A, step: 2, status: 'skipped', reason: LACKS },
        { kind: 'step', cell: A, step: 3, status: 'skipped', reason: LACKS },
        { kind: 'step', cell: B, step: 1, status: 'passed' },
        { kind: 'step', cell: B, step: 2, status: 'passed' },
        { kind: 'step', cell: B, step: 3, status: 'passed' },
        { kind: 'host', cell: A, host: 'host01', kernelRelease: '5.10.0-46-cloud-amd64', distro: 'Debian GNU/Linux 12 (bookworm)', missing: ['ipip'] },
      ],
    })
    const m = await readMatrix(dir, [A, B])
    expect(m.rows[0]!.byCell[A]).toMatchObject({ status: 'pass', passed: 1, skipped: 2, detail: LACKS })
    expect(m.rows[0]!.byCell[B]).toMatchObject({ status: 'pass', passed: 3, skipped: 0, detail: '' })
    const table = formatMatrix(m)
    expect(table).toContain(`| ipip-tunnels | **pass** (1 passed, 2 skipped): ${LACKS} | **pass** (3 passed) |`)
    expect(table).toContain('- qemu kernel 5.10 host01: Debian GNU/Linux 12 (bookworm), kernel 5.10.0-46-cloud-amd64; kernel lacks ipip')
  })

  test('a failure names its step; "blocked by" skips are not reasons; a cell that never ran is a dash', async () => {
    const dir = await records({
      'namespace-routing': [
        { kind: 'step', cell: A, step: 36, status: 'failed', reason: 'expected every reply with ttl 64' },
        { kind: 'step', cell: A, step: 37, status: 'skipped', reason: 'blocked by step 36' },
      ],
    })
    const m = await readMatrix(dir, [A, B])
    expect(m.rows[0]!.byCell[A]).toMatchObject({ status: 'fail', failed: 1, detail: 'step 36: expected every reply with ttl 64' })
    expect(formatMatrix(m)).toMatch(/\| namespace-routing \| \*\*fail\*\* \(0 passed, 1 failed, 1 skipped\): step 36: expected every reply with ttl 64 \| – \|/)
  })

  test('a scenario whose every step was skipped is a skip', async () => {
    const dir = await records({ x: [{ kind: 'step', cell: A, step: 1, status: 'skipped', reason: LACKS }] })
    expect((await readMatrix(dir, [A])).rows[0]!.byCell[A]!.status).toBe('skip')
  })
})
