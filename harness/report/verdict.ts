// How a failed step reads in every report: a one-line verdict first (JUnit's failure message,
// the matrix cell, Allure's status), then the whole error, then the scenario's hint as the
// suggested fix.

/** A check's "expected …; got …" on one line, or the first line of any other error. */
export function verdictLine(error: unknown): string {
  const e = error as { expected?: unknown; actual?: unknown; message?: unknown }
  if (typeof e?.expected === 'string' && typeof e.actual === 'string') return `expected ${e.expected}; got ${e.actual}`
  const message = typeof e?.message === 'string' ? e.message : String(error)
  return message.split('\n').find((l) => l.trim()) ?? message
}

export function errorType(error: unknown): string {
  return (error as { name?: unknown })?.name && typeof (error as { name: unknown }).name === 'string' ? (error as Error).name : 'Error'
}

export function suggestedFix(hint: string): string {
  return `suggested fix: ${hint}`
}

/** The error with the scenario's hint appended to its message, once. */
export function withHint<E>(error: E, hint: string | undefined): E {
  if (!hint || !(error instanceof Error)) return error
  const line = suggestedFix(hint)
  if (!error.message.endsWith(line)) error.message = `${error.message}\n${line}`
  return error
}
