// --max-steps and --max-scenario-bytes taken out of the arguments of the commands other than run
// that load scenarios (harness/cli/limit-options.ts).
import { describe, expect, test } from 'vitest'
import { takeLimitOptions } from '../../harness/cli/limit-options.ts'

describe('scenario limit options on list, review, grade…', () => {
  test('both spellings, anywhere among the arguments; the rest is left to the command', () => {
    expect(takeLimitOptions(['a.yaml', '--max-steps', '5000', '--json', '--max-scenario-bytes=2048', 'b.yaml']))
      .toEqual({ limits: { steps: 5000, bytes: 2048 }, rest: ['a.yaml', '--json', 'b.yaml'] })
  })

  test('after -- nothing is taken', () => {
    expect(takeLimitOptions(['--', '--max-steps', '3'])).toEqual({ limits: {}, rest: ['--', '--max-steps', '3'] })
  })

  test('a value that is not a positive whole number, or none, is a usage error naming the option', () => {
    expect(() => takeLimitOptions(['--max-steps', '0'])).toThrow('--max-steps wants a positive whole number, not "0"')
    expect(() => takeLimitOptions(['--max-scenario-bytes'])).toThrow('--max-scenario-bytes wants a value')
  })
})
