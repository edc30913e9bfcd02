// The run's saved VM pairs: one lab saves a kernel's pair while the others wait for it, a failed
// save lets the next lab try, and the saves' directory goes with the process that made it,
// however that process ends.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { SavedStates, type SavedPair } from '../../harness/backends/qemu/vm-saved-states.ts'
import { waitUntil } from '../helpers/wait.ts'

const MODULE = fileURLToPath(new URL('../../harness/backends/qemu/vm-saved-states.ts', import.meta.url))
const pair = (fromLab: string): SavedPair => ({
  vms: [{ disk: '/d0', state: '/s0' }, { disk: '/d1', state: '/s1' }], fromLab, savedAt: 1,
  booted: { underlayInterface: 'ens33', hostnames: ['host-01', 'host-02'] },
})

describe('SavedStates', () => {
  test('one lab saves a key; the others wait for its save', async () => {
    const states = new SavedStates('labproof-qemu-unittest')
    expect(states.get('k')).toBeUndefined()
    const claim = await states.claim('k')
    expect(claim).toBeDefined()
    expect(existsSync(claim!.dir)).toBe(true)
    expect(await states.claim('k')).toBeUndefined()
    const waiting = states.get('k')!
    claim!.commit(pair('lpfirst'))
    expect((await waiting)?.fromLab).toBe('lpfirst')
    expect((await states.get('k'))?.fromLab).toBe('lpfirst')
  })

  test('an abandoned save lets waiting labs go on without one, and the next lab claim it', async () => {
    const states = new SavedStates('labproof-qemu-unittest')
    const claim = (await states.claim('k'))!
    const waiting = states.get('k')!
    claim.abandon()
    expect(await waiting).toBeUndefined()
    expect(states.get('k')).toBeUndefined()
    expect(await states.claim('k')).toBeDefined()
  })

  for (const how of ['exits', 'is killed with SIGKILL'] as const) {
    test(`the saves' directory is removed when the process that made it ${how}`, async () => {
      const script = [
        `const { SavedStates } = await import(${JSON.stringify(MODULE)})`,
        'const dir = await new SavedStates("labproof-qemu-unittest").root()',
        'console.log(dir)',
        how === 'exits' ? 'process.exit(0)' : 'setInterval(() => {}, 1000)',
      ].join('\n')
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
      const exited = new Promise((resolve) => child.on('exit', resolve))
      try {
        const dir = await new Promise<string>((resolve) => {
          let out = ''
          child.stdout.on('data', (d) => {
            out += String(d)
            if (out.includes('\n')) resolve(out.trim())
          })
        })
        // Named after its owner: PID and start time (ownership/owner.ts).
        expect(dir).toMatch(new RegExp(`/labproof-qemu-unittest-saved-${child.pid}\\.\\d+-`))
        expect(existsSync(dir)).toBe(true)
        if (how !== 'exits') child.kill('SIGKILL')
        await exited
        // The remover runs on its own once it sees the pipe close: wait for its work, bounded.
        await waitUntil(`the remover to remove ${dir}`, () => !existsSync(dir), 10_000)
      } finally {
        child.kill('SIGKILL') // a failed expectation must not leave it running
      }
    })
  }
})
