// A check that ran and found the state wrong. Its message says what was expected and what came
// back; `evidence` is the observed state, quoted in the report.

export class CheckFailure extends Error {
  constructor(readonly expected: string, readonly actual: string, readonly evidence?: string) {
    super(`expected ${expected}\n     got ${actual}${evidence ? `\n${evidence}` : ''}`)
    this.name = 'CheckFailure'
  }
}

/** Collects mismatches so one failure message lists all of them. */
export class Mismatches {
  private readonly expected: string[] = []
  private readonly actual: string[] = []

  add(expected: string, actual: string): void {
    this.expected.push(expected)
    this.actual.push(actual)
  }

  get isEmpty(): boolean {
    return this.expected.length === 0
  }

  /** What was expected and what came back, each joined in one line. */
  describe(): { expected: string; actual: string } {
    return { expected: this.expected.join('; '), actual: this.actual.join('; ') }
  }

  throwIfAny(subject: string, evidence?: string): void {
    if (this.expected.length === 0) return
    throw new CheckFailure(`${subject}: ${this.expected.join('; ')}`, this.actual.join('; '), evidence)
  }
}
