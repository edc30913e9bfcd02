// The GitHub Actions workflow labproof ships (ci/github-workflow.yml, what `labproof init`
// copies): accepted by @action-validator/cli, and it has the jobs the README promises.
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { parse } from 'yaml'
import { testTempDir } from '../helpers/temp-dir.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const WORKFLOW = path.join(ROOT, 'ci', 'github-workflow.yml')

function actionValidator(file: string) {
  const pkg = createRequire(import.meta.url).resolve('@action-validator/cli/package.json')
  const bin = (JSON.parse(readFileSync(pkg, 'utf8')) as { bin: string | Record<string, string> }).bin
  const script = path.join(path.dirname(pkg), typeof bin === 'string' ? bin : bin['action-validator']!)
  return spawnSync(process.execPath, [script, file], { encoding: 'utf8' })
}

describe('the CI workflow', () => {
  test('@action-validator/cli accepts it', () => {
    const r = actionValidator(WORKFLOW)
    expect(r.stdout + r.stderr).toBe('')
    expect(r.status).toBe(0)
  })

  test('the validator refuses a broken workflow (so its yes means something)', () => {
    const dir = testTempDir('workflow')
    const broken = path.join(dir, 'broken.yml')
    writeFileSync(broken, readFileSync(WORKFLOW, 'utf8').replace('runs-on: ubuntu-latest', 'runs_on: ubuntu-latest'))
    const r = actionValidator(broken)
    expect(r.status).not.toBe(0)
    expect(r.stdout + r.stderr).toContain('runs_on')
  })

  test('it runs netns in shards and merges them, a docker distro matrix and a qemu kernel matrix, and keeps JUnit and the HTML report', () => {
    const wf = parse(readFileSync(WORKFLOW, 'utf8')) as { jobs: Record<string, { strategy?: { matrix: Record<string, unknown[]> }; steps: { run?: string; uses?: string; with?: { path?: string } }[] }> }
    const runs = (job: string) => wf.jobs[job]!.steps.map((s) => s.run ?? '').join('\n')
    const uploads = (job: string) => wf.jobs[job]!.steps.filter((s) => s.uses?.startsWith('actions/upload-artifact')).map((s) => s.with?.path ?? '').join('\n')
    expect(runs('netns')).toMatch(/npx labproof run --shard \$\{\{ matrix.shard \}\}\/3/)
    expect(wf.jobs.netns!.strategy!.matrix.shard).toEqual([1, 2, 3])
    expect(runs('netns-report')).toContain('npx labproof report merge shards/* --out labproof-netns')
    expect(uploads('netns-report')).toMatch(/reports\/junit\.xml[\s\S]*allure-report\/index\.html/)
    expect(wf.jobs.docker!.strategy!.matrix.distro).toEqual(['bookworm', 'trixie', 'bullseye'])
    expect(runs('docker')).toContain('--backend docker --distro ${{ matrix.distro }} --report')
    expect(wf.jobs.qemu!.strategy!.matrix.kernel).toEqual(['5.10', '6.1', '6.12'])
    expect(runs('qemu')).toContain('--backend qemu --kernel ${{ matrix.kernel }} --report')
    for (const job of ['docker', 'qemu']) expect(uploads(job)).toMatch(/reports\/[\s\S]*allure-report\/index\.html/)
  })
})
