// A docker lab's containers and networks are made through makeForLab, so an interrupt that is
// removing the lab sees every creation under way settle first and stops further ones: a
// container made after the interrupt listed the lab's resources would be left behind.
import { expect, test } from 'vitest'
import { makeForLab, trackLab, untrackLab } from '../../harness/backends/docker/docker-reaper.ts'

test('a lab being removed gets nothing more made; a live one does', async () => {
  trackLab('lp-make-test')
  try {
    expect(await makeForLab('lp-make-test', async () => 'made')).toBe('made')
    await expect(makeForLab('lp-make-test', async () => { throw new Error('engine said no') })).rejects.toThrow('engine said no')
  } finally {
    untrackLab('lp-make-test')
  }
  let called = false
  await expect(makeForLab('lp-make-test', async () => { called = true })).rejects.toThrow('docker lab lp-make-test is being removed')
  expect(called).toBe(false)
})
