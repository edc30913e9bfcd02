// The backend registry: names, defaults and options come from each backend's entry.
import { describe, expect, test } from 'vitest'
import { BACKEND_NAMES, backendEntry, backendOptions, backendsToSweep } from '../../harness/backends/index.ts'
import { jobsFromEnv } from '../../harness/scenario/jobs.ts'

describe('the backend registry', () => {
  test('knows every backend, and refuses an unknown one with the known names', () => {
    expect(BACKEND_NAMES).toEqual(['netns', 'docker', 'qemu', 'vagrant'])
    expect(() => backendEntry('lxc')).toThrow('unknown backend "lxc"; choose one of: netns, docker, qemu, vagrant')
  })

  test("scenarios at once: LABPROOF_JOBS, else the backend's default", () => {
    expect(jobsFromEnv({})).toBe(backendEntry('netns').defaultJobs)
    expect(jobsFromEnv({ LABPROOF_BACKEND: 'qemu' })).toBe(backendEntry('qemu').defaultJobs)
    expect(backendEntry('qemu').defaultJobs).toBeLessThan(backendEntry('docker').defaultJobs)
    expect(jobsFromEnv({ LABPROOF_BACKEND: 'qemu', LABPROOF_JOBS: '3' })).toBe(3)
  })

  test("a backend's options are checked against its schema, naming the backend and the option", () => {
    expect(backendOptions('docker', { privileged: true, distro: 'trixie' })).toEqual({ privileged: true, distro: 'trixie' })
    expect(() => backendOptions('netns', { distro: 'trixie' })).toThrow('the netns backend has no option --distro (it takes none)')
    expect(() => backendOptions('qemu', { image: 'x' })).toThrow('the qemu backend has no option --image (its options: --kernel)')
    expect(() => backendOptions('docker', { privileged: 'yes' })).toThrow(/^docker backend, --privileged: /)
  })

  test('a sweep reaches the VM backends before the netns nodes their gateways run on', () => {
    const order = backendsToSweep().map((b) => b.name)
    expect(order.indexOf('vagrant')).toBeLessThan(order.indexOf('netns'))
    expect(order.indexOf('qemu')).toBeLessThan(order.indexOf('netns'))
    expect(backendsToSweep().filter((b) => b.reaperNeedsEngine).map((b) => b.name)).toEqual(['docker'])
  })
})
