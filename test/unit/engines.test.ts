// LABPROOF_REQUIRE turns a suite whose engine is missing from skipped into failed.
import { describe, expect, test } from 'vitest'
import { engineVerdict, requiredEngines } from '../helpers/engines.ts'

describe('LABPROOF_REQUIRE', () => {
  test('an engine that is there runs, required or not', () => {
    expect(engineVerdict('docker', undefined, { LABPROOF_REQUIRE: 'docker' })).toBe('run')
    expect(engineVerdict('docker', undefined, {})).toBe('run')
  })

  test('a missing engine is skipped unless required, and then fails', () => {
    expect(engineVerdict('qemu', 'no qemu-system-x86_64', {})).toBe('skip')
    expect(engineVerdict('qemu', 'no qemu-system-x86_64', { LABPROOF_REQUIRE: 'docker' })).toBe('skip')
    expect(engineVerdict('qemu', 'no qemu-system-x86_64', { LABPROOF_REQUIRE: 'docker, qemu,vagrant' })).toBe('fail')
  })

  test('an unknown engine name is refused', () => {
    expect(() => requiredEngines({ LABPROOF_REQUIRE: 'docker,kvm' })).toThrow(/LABPROOF_REQUIRE: unknown engine "kvm"; known: root, docker/)
  })
})
