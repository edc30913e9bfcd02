// The backend registry: names, defaults and options come from each backend's entry, and what
// reads the registry (help, options, jobs, config, cleanup, bench) follows a backend added to it.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, test, vi } from 'vitest'
import { z } from 'zod'
import { availableBackends } from '../../bench/backends.ts'
import { defineBackend, valueOption, flagOption, type BackendEntry } from '../../harness/backends/entry.ts'
import { allBackends, backendCliOptions, backendEntry, backendNames, backendOptions, backendOptionsFromEnv, backendsToSweep, registerBackend } from '../../harness/backends/index.ts'
import { cleanLeftovers } from '../../harness/cleanup.ts'
import { runHelp } from '../../harness/cli/run.ts'
import { loadConfig } from '../../harness/config.ts'
import { runOptionsFromEnv } from '../../harness/engine/run-options.ts'
import { jobsFromEnv } from '../../harness/scenario/jobs.ts'
import { testTempDir } from '../helpers/temp-dir.ts'

describe('the backend registry', () => {
  test('knows every backend, and refuses an unknown one with the known names', () => {
    expect(backendNames()).toEqual(['netns', 'docker', 'qemu', 'vagrant'])
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
    expect(() => backendOptions('netns', { distro: 'trixie' })).toThrow('the netns backend has no option --distro (it takes none); --distro is an option of docker, vagrant (add --backend docker)')
    expect(() => backendOptions('qemu', { image: 'x' })).toThrow('the qemu backend has no option --image (its options: --kernel); --image is an option of docker (add --backend docker)')
    expect(() => backendOptions('docker', { privileged: 'yes' })).toThrow(/^docker backend, --privileged: /)
  })

  test("an option's environment default is read from its variable, a flag's when it is 1", () => {
    expect(backendOptionsFromEnv('docker', { LABPROOF_DOCKER_IMAGE: 'mine:1', LABPROOF_DOCKER_PRIVILEGED: '1' })).toEqual({ image: 'mine:1', privileged: true })
    expect(backendOptionsFromEnv('docker', { LABPROOF_DOCKER_PRIVILEGED: '0' })).toEqual({ privileged: false })
    expect(backendOptionsFromEnv('netns', { LABPROOF_DOCKER_IMAGE: 'mine:1' })).toEqual({})
  })

  test('a sweep reaches the VM backends before the netns nodes their gateways run on', () => {
    const order = backendsToSweep().map((b) => b.name)
    expect(order.indexOf('vagrant')).toBeLessThan(order.indexOf('netns'))
    expect(order.indexOf('qemu')).toBeLessThan(order.indexOf('netns'))
    expect(backendsToSweep().filter((b) => b.reaperNeedsEngine).map((b) => b.name)).toEqual(['docker'])
  })

  test('an option declared without help is refused when the backend is defined', () => {
    expect(() => defineBackend({ ...fakeEntry(), options: z.strictObject({ colour: z.string().optional() }) }))
      .toThrow('the fake backend\'s option "colour" has no help: declare it with valueOption or flagOption')
  })
})

// A backend that is its entry and nothing else: what reads the registry must pick it up with no
// edit of its own (the goal: a new backend is its folder and its line in the registry).
function fakeEntry(reap = async () => [] as string[]): BackendEntry {
  return {
    name: 'fake',
    summary: 'a stand-in backend of this test',
    defaultJobs: 7,
    options: z.strictObject({
      colour: valueOption('NAME', 'the colour of the fake hosts'),
      loud: flagOption('fake hosts that shout'),
    }),
    envDefaults: { colour: 'FAKE_COLOUR' },
    preflight: async () => {},
    provision: async () => { throw new Error('the fake backend makes no labs') },
    reap,
    benchByDefault: true,
    benchReady: async () => ({ available: true, detail: 'fake hosts' }),
  }
}

describe('what reads the registry follows a backend added to it', () => {
  let unregister: (() => void) | undefined
  afterEach(() => {
    unregister?.()
    unregister = undefined
    vi.restoreAllMocks()
  })

  test("labproof run --help lists it with its summary, its labs at once and its options' help", () => {
    unregister = registerBackend(defineBackend(fakeEntry()))
    const help = runHelp()
    expect(help).toMatch(/--backend B\s+netns, docker, qemu, vagrant, fake /)
    expect(help).toMatch(/\n {2}fake {14}a stand-in backend of this test; 7 at once\n/)
    expect(help).toMatch(/\n {4}--colour NAME {3}the colour of the fake hosts\n/)
    expect(help).toMatch(/\n {4}--loud {10}fake hosts that shout/)
    expect(help).toContain('vagrant 1, fake 7)')
  })

  test('the command line parses its options, checked by its schema, its environment default included', () => {
    unregister = registerBackend(defineBackend(fakeEntry()))
    expect(backendCliOptions()).toMatchObject({ colour: { type: 'string' }, loud: { type: 'boolean' } })
    expect(backendOptions('fake', { colour: 'red', loud: true })).toEqual({ colour: 'red', loud: true })
    expect(runOptionsFromEnv({ LABPROOF_BACKEND: 'fake', FAKE_COLOUR: 'blue' })).toMatchObject({ backend: 'fake', jobs: 7, options: { colour: 'blue' } })
  })

  test('the config accepts it as the backend', () => {
    const dir = testTempDir('registry')
    writeFileSync(path.join(dir, 'labproof.config.yaml'), 'backend: fake\n')
    expect(() => loadConfig(dir)).toThrow(/^labproof\.config\.yaml:1:10: backend: unknown backend; the backends are netns, docker, qemu, vagrant$/)
    unregister = registerBackend(defineBackend(fakeEntry()))
    expect(loadConfig(dir).backend).toBe('fake')
  })

  test('cleanup runs its reaper, before the backends registered earlier', async () => {
    const order: string[] = []
    // The real reapers are doubled here: a unit test removes nothing from the machine.
    for (const b of allBackends()) vi.spyOn(b, 'reap').mockImplementation(async () => { order.push(b.name); return [] })
    unregister = registerBackend(defineBackend(fakeEntry(async () => { order.push('fake'); return ['fake lab 1'] })))
    const removed = await cleanLeftovers({ engineBackends: [] })
    expect(removed).toContain('fake lab 1')
    expect(order[0]).toBe('fake')
    expect(order).not.toContain('docker')
  })

  test('the bench measures it where its entry says it can', async () => {
    unregister = registerBackend(defineBackend(fakeEntry()))
    expect(await availableBackends({ only: ['fake', 'lxc'] })).toEqual([
      { backend: 'fake', available: true, detail: 'fake hosts' },
      { backend: 'lxc', available: false, detail: 'not a backend (the backends: netns, docker, qemu, vagrant, fake)' },
    ])
  })

  test('a second backend of the same name is refused', () => {
    unregister = registerBackend(defineBackend(fakeEntry()))
    expect(() => registerBackend(fakeEntry())).toThrow('a backend named "fake" is registered already')
  })
})
