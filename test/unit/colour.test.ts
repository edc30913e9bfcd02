// Colour codes only on a terminal, never with NO_COLOR; FORCE_COLOR forces them (0: off).
import { expect, test } from 'vitest'
import { settleColour, wantsColour } from '../../harness/cli/output.ts'

test.each([
  [{}, true, true],
  [{}, false, false],
  [{ TERM: 'dumb' }, true, false],
  [{ NO_COLOR: '1' }, true, false],
  [{ NO_COLOR: '' }, true, true],
  [{ NO_COLOR: '1', FORCE_COLOR: '1' }, true, false],
  [{ FORCE_COLOR: '1' }, false, true],
  [{ FORCE_COLOR: '0' }, true, false],
  [{ FORCE_COLOR: 'false' }, true, false],
] as const)('env %j, stdout a terminal: %s → colour %s', (env, tty, colour) => {
  expect(wantsColour({ ...env }, tty)).toBe(colour)
})

test('the decision is left in the environment vitest reads (it only looks at NO_COLOR and FORCE_COLOR)', () => {
  const off: NodeJS.ProcessEnv = { FORCE_COLOR: '0' }
  settleColour(off, true)
  expect(off).toEqual({ NO_COLOR: '1' })
  const on: NodeJS.ProcessEnv = { NO_COLOR: '' }
  settleColour(on, true)
  expect(on).toEqual({ FORCE_COLOR: '1' })
})
