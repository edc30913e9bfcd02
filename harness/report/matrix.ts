// The scenario × distro / kernel table of a matrix run, from the step results each cell
// recorded in reports/run/: pass, fail (with the first failure) or skip (with the reason), and
// which kernel and distro each cell's hosts really ran.
import { readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { FEATURE_NOT_USABLE } from '../host.ts'

export interface StepFact {
  kind: 'step'
  cell: string
  step: number
  status: 'passed' | 'failed' | 'skipped'
  reason?: string
}

export interface HostFact {
  kind: 'host'
  cell: string
  host: string
  kernelRelease: string
  distro: string
  versions?: { iproute2: string; iptables: string }
  missing: string[]
  missingTools?: string[]
}

export interface MatrixCell {
  status: 'pass' | 'fail' | 'skip'
  passed: number
  failed: number
  skipped: number
  /** First failure, or the skip reasons (blocked-by excluded). */
  detail: string
}

export interface Matrix {
  cells: string[]
  rows: { scenario: string; byCell: Record<string, MatrixCell> }[]
  hosts: Record<string, string>
}

export async function readMatrix(runRecords: string, cells: string[]): Promise<Matrix> {
  const files = (await readdir(runRecords).catch(() => [] as string[])).filter((f) => f.endsWith('.jsonl')).sort()
  const rows: Matrix['rows'] = []
  const hosts: Record<string, string> = {}
  for (const f of files) {
    const facts = (await readFile(path.join(runRecords, f), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as StepFact | HostFact | { kind: string })
    const byCell: Record<string, MatrixCell> = {}
    for (const cell of cells) {
      const steps = facts.filter((x): x is StepFact => x.kind === 'step' && (x as StepFact).cell === cell)
      if (steps.length === 0) continue
      const failed = steps.filter((s) => s.status === 'failed')
      const skipped = steps.filter((s) => s.status === 'skipped')
      const passed = steps.length - failed.length - skipped.length
      const reasons = [...new Set(skipped.map((s) => s.reason ?? '').filter((r) => r && !r.startsWith('blocked by')))]
      byCell[cell] = {
        status: failed.length ? 'fail' : passed ? 'pass' : 'skip',
        passed, failed: failed.length, skipped: skipped.length,
        detail: failed.length ? `step ${failed[0]!.step}: ${failed[0]!.reason ?? ''}` : reasons.join('; '),
      }
      for (const h of facts.filter((x): x is HostFact => x.kind === 'host' && (x as HostFact).cell === cell)) {
        // Features a host can lack with the kernel option set (a container's limits) are not
        // the kernel's.
        const notUsable = h.missing.filter((f) => f in FEATURE_NOT_USABLE)
        const notInKernel = h.missing.filter((f) => !notUsable.includes(f))
        hosts[`${cell} ${h.host}`] = [
          `${h.distro}, kernel ${h.kernelRelease}`,
          h.versions && `${h.versions.iproute2}, ${h.versions.iptables}`,
          notInKernel.length && `kernel lacks ${notInKernel.join(' ')}`,
          notUsable.length && `cannot use ${notUsable.join(' ')}`,
          h.missingTools?.length && `no ${h.missingTools.join(' ')}`,
        ].filter(Boolean).join('; ')
      }
    }
    rows.push({ scenario: f.replace(/\.jsonl$/, ''), byCell })
  }
  return { cells, rows, hosts }
}

export function formatMatrix(m: Matrix): string {
  const head = `| scenario | ${m.cells.join(' | ')} |\n|---|${m.cells.map(() => '---').join('|')}|`
  const body = m.rows.map((r) => `| ${r.scenario} | ${m.cells.map((c) => {
    const x = r.byCell[c]
    if (!x) return '–'
    const counts = `${x.passed} passed${x.failed ? `, ${x.failed} failed` : ''}${x.skipped ? `, ${x.skipped} skipped` : ''}`
    return `**${x.status}** (${counts})${x.detail ? `: ${x.detail.replace(/\|/g, '\\|').replace(/\n/g, ' ').slice(0, 200)}` : ''}`
  }).join(' | ')} |`)
  const hosts = Object.entries(m.hosts).sort().map(([k, v]) => `- ${k}: ${v}`)
  return [head, ...body, '', 'Hosts:', ...hosts, ''].join('\n')
}

export async function writeMatrix(dir: string, m: Matrix): Promise<string> {
  const md = formatMatrix(m)
  await writeFile(path.join(dir, 'matrix.md'), md)
  await writeFile(path.join(dir, 'matrix.json'), `${JSON.stringify(m, null, 2)}\n`)
  return md
}
