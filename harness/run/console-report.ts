// What `labproof run` prints: each step as it settles (✓ passed, × failed with its message,
// ↓ skipped with its reason), each scenario's end, and the summary scripts read (bench/,
// test/soak/, CI logs): `Tests  N failed | N passed | N skipped (T)` as vitest printed it.
// Colour follows cli/output.ts's decision (NO_COLOR is set when there is to be none).
import { verdictLine } from '../report/verdict.ts'
import type { StepVerdict } from './scenario-engine.ts'

export interface Tally { passed: number; failed: number; skipped: number }

export class ConsoleReport {
  readonly steps: Tally = { passed: 0, failed: 0, skipped: 0 }
  readonly scenarios: Tally = { passed: 0, failed: 0, skipped: 0 }
  private readonly started = performance.now()
  private readonly colour = !process.env.NO_COLOR

  constructor(private readonly write: (text: string) => void = (text) => void process.stdout.write(text)) {}

  /** `scenarios`: how many run at once with this one (each line names its scenario then). */
  step(scenario: string, title: string, verdict: StepVerdict, ms: number): void {
    this.steps[verdict.status]++
    const time = ms >= 100 ? this.paint(`  ${Math.round(ms)}ms`, 33) : ''
    if (verdict.status === 'passed') this.write(` ${this.paint('✓', 32)} ${scenario} › ${title}${time}\n`)
    else if (verdict.status === 'skipped') this.write(` ${this.paint('↓', 33)} ${scenario} › ${title} ${this.paint(`[skipped: ${verdict.reason}]`, 2)}\n`)
    else {
      const message = String((verdict.error as Error)?.message ?? verdict.error)
      const rest = message.split('\n').filter((l) => l.trim() && l.trim() !== verdictLine(verdict.error).trim())
      this.write(` ${this.paint('×', 31)} ${scenario} › ${title}${time}\n   ${this.paint(`→ ${verdictLine(verdict.error)}`, 31)}\n${rest.map((l) => `     ${l}\n`).join('')}`)
    }
  }

  /** A scenario whose lab could not be provisioned or taken down. */
  scenarioError(scenario: string, what: string, error: unknown): void {
    this.write(` ${this.paint('×', 31)} ${scenario}: ${what}: ${String((error as Error)?.message ?? error)}\n`)
  }

  scenarioEnded(scenario: string, tally: Tally, ms: number): void {
    const status = tally.failed > 0 ? 'failed' : tally.passed > 0 ? 'passed' : 'skipped'
    this.scenarios[status]++
    const mark = status === 'failed' ? this.paint('❯', 31) : this.paint('✓', 32)
    this.write(` ${mark} ${scenario} (${tally.passed + tally.failed + tally.skipped} steps${tally.failed ? `, ${tally.failed} failed` : ''}) ${this.paint(`${Math.round(ms)}ms`, 2)}\n`)
  }

  summary(): void {
    const line = (t: Tally) => [
      t.failed ? this.paint(`${t.failed} failed`, 31) : '',
      t.passed ? this.paint(`${t.passed} passed`, 32) : '',
      t.skipped ? this.paint(`${t.skipped} skipped`, 33) : '',
    ].filter(Boolean).join(' | ') + ` (${t.passed + t.failed + t.skipped})`
    this.write(`\n ${this.paint('Scenarios', 2)}  ${line(this.scenarios)}\n      ${this.paint('Tests', 2)}  ${line(this.steps)}\n   ${this.paint('Duration', 2)}  ${((performance.now() - this.started) / 1000).toFixed(2)}s\n`)
  }

  private paint(text: string, sgr: number): string {
    return this.colour ? `\x1b[${sgr}m${text}\x1b[0m` : text
  }
}
