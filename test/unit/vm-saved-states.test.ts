// Saved VM pairs: one lab saves a kernel's pair while the others wait for it, a failed save lets
// the next lab try; kept across runs, a save is found by a later run, removed when it will not
// restore, and emptied by `labproof clean`; a save's directory goes with the process that was
// making it, however that process ends.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, test } from 'vitest'
import { emptySavedCache, savedCacheDir, SavedStates, type SavedPair } from '../../harness/backends/qemu/vm-saved-states.ts'
import { ownerTag } from '../../harness/ownership/owner.ts'
import { deadOwner } from '../helpers/owner-process.ts'
import { waitUntil } from '../helpers/wait.ts'

const MODULE = fileURLToPath(new URL('../../harness/backends/qemu/vm-saved-states.ts', import.meta.url))
const PREFIX = 'labproof-qemu-unittest'
const caches = mkdtempSync(join(tmpdir(), 'labproof-saved-unittest-'))
afterAll(() => rm(caches, { recursive: true, force: true }))
let n = 0
const newCache = () => join(caches, `cache-${n++}`)

/** A pair whose files are those the claim made in its directory. */
async function pairIn(dir: string, fromLab: string): Promise<SavedPair> {
  for (const f of ['host01.qcow2', 'host01.state', 'host02.qcow2', 'host02.state']) await writeFile(join(dir, f), f)
  return {
    vms: [{ disk: join(dir, 'host01.qcow2'), state: join(dir, 'host01.state') }, { disk: join(dir, 'host02.qcow2'), state: join(dir, 'host02.state') }],
    fromLab, savedAt: 1, booted: { underlayInterface: 'ens33', hostnames: ['host-01', 'host-02'] },
  }
}

describe('SavedStates, for the run only', () => {
  const runOnly = () => new SavedStates(PREFIX, () => undefined)

  test('one lab saves a key; the others wait for its save', async () => {
    const states = runOnly()
    expect(await states.get('k')).toBeUndefined()
    const claim = await states.claim('k')
    expect(claim).toBeDefined()
    expect(existsSync(claim!.dir)).toBe(true)
    expect(await states.claim('k')).toBeUndefined()
    const waiting = states.get('k')
    await claim!.commit(await pairIn(claim!.dir, 'lpfirst'))
    expect((await waiting)?.fromLab).toBe('lpfirst')
    expect((await states.get('k'))?.earlier).toBeUndefined()
  })

  test('an abandoned save lets waiting labs go on without one, its files go, and the next lab claims it', async () => {
    const states = runOnly()
    const claim = (await states.claim('k'))!
    const waiting = states.get('k')
    claim.abandon()
    expect(await waiting).toBeUndefined()
    await waitUntil(`${claim.dir} to go`, () => !existsSync(claim.dir))
    expect(await states.get('k')).toBeUndefined()
    expect(await states.claim('k')).toBeDefined()
  })
})

describe('SavedStates, kept across runs', () => {
  test('a save goes into the cache whole, and a later run finds it where it lies', async () => {
    const cache = newCache()
    const first = new SavedStates(PREFIX, () => cache)
    const claim = (await first.claim('k'))!
    // Made beside the entries, as a partial directory of this process.
    expect(dirname(claim.dir)).toBe(cache)
    expect(basename(claim.dir)).toMatch(new RegExp(`^\\.partial-${ownerTag().replace('.', '\\.')}-`))
    await claim.commit(await pairIn(claim.dir, 'lpfirst'))
    const own = (await first.get('k'))!
    expect(own.earlier).toBeUndefined()
    expect(existsSync(claim.dir)).toBe(false)
    const [entry, ...others] = readdirSync(cache)
    expect(others).toEqual([])
    expect(readdirSync(join(cache, entry!)).sort()).toEqual(['host01.qcow2', 'host01.state', 'host02.qcow2', 'host02.state', 'pair.json'])
    expect(own.vms[1]!.state).toBe(join(cache, entry!, 'host02.state'))

    const later = new SavedStates(PREFIX, () => cache)
    const found = (await later.get('k'))!
    expect(found).toMatchObject({ fromLab: 'lpfirst', earlier: join(cache, entry!), booted: own.booted })
    expect(found.vms).toEqual(own.vms)
    expect(await later.get('another key')).toBeUndefined()
    // One that would not restore is removed: the next look finds none, and a lab saves anew.
    await later.forget('k', found)
    expect(readdirSync(cache)).toEqual([])
    expect(await later.get('k')).toBeUndefined()
    expect(await later.claim('k')).toBeDefined()
  })

  test('a save another run placed first wins; this run keeps its own until it ends', async () => {
    const cache = newCache()
    const [a, b] = [new SavedStates(PREFIX, () => cache), new SavedStates(PREFIX, () => cache)]
    const [ca, cb] = [(await a.claim('k'))!, (await b.claim('k'))!]
    await ca.commit(await pairIn(ca.dir, 'lpa'))
    await cb.commit(await pairIn(cb.dir, 'lpb'))
    expect((await b.get('k'))!.vms[0]!.disk).toBe(join(cb.dir, 'host01.qcow2'))
    expect(existsSync(cb.dir)).toBe(true)
    expect((await new SavedStates(PREFIX, () => cache).get('k'))?.fromLab).toBe('lpa')
  })

  test('a save replaces the kept ones of its kind (an older qemu or labproof made them), not others', async () => {
    const cache = newCache()
    const save = async (key: string, kind: string) => {
      const claim = (await new SavedStates(PREFIX, () => cache).claim(key))!
      await claim.commit({ ...(await pairIn(claim.dir, `lp-${key}`)), kind })
    }
    await save('old qemu, 6.1', 'kernel 6.1, tcg, 2 hosts')
    await save('old qemu, 5.10', 'kernel 5.10, tcg, 2 hosts')
    await save('new qemu, 6.1', 'kernel 6.1, tcg, 2 hosts')
    const later = new SavedStates(PREFIX, () => cache)
    expect(await later.get('old qemu, 6.1')).toBeUndefined()
    expect((await later.get('new qemu, 6.1'))?.fromLab).toBe('lp-new qemu, 6.1')
    expect((await later.get('old qemu, 5.10'))?.fromLab).toBe('lp-old qemu, 5.10')
    expect(readdirSync(cache)).toHaveLength(2)
  })

  test('labproof clean empties it: every kept save and the partial ones of runs that are gone', async () => {
    const cache = newCache()
    const states = new SavedStates(PREFIX, () => cache)
    const claim = (await states.claim('k'))!
    await claim.commit(await pairIn(claim.dir, 'lpkept'))
    const [entry] = readdirSync(cache)
    const dead = await deadOwner()
    const partial = (owner: string) => join(cache, `.partial-${owner}-planted`)
    await mkdir(partial(ownerTag(dead)))
    await mkdir(partial(ownerTag()))
    expect((await emptySavedCache(cache)).sort()).toEqual([`a partial VM save (${partial(ownerTag(dead))})`, `saved VM pair (${join(cache, entry!)})`])
    expect(readdirSync(cache)).toEqual([basename(partial(ownerTag()))])
    expect(await emptySavedCache(join(cache, 'none'))).toEqual([])
  })

  test('where it is kept: the cache, LABPROOF_QEMU_SAVED_CACHE, or off', () => {
    expect(savedCacheDir({ LABPROOF_CACHE: '/c' })).toBe('/c/vm/saved')
    expect(savedCacheDir({ LABPROOF_CACHE: '/c', LABPROOF_QEMU_SAVED_CACHE: '/elsewhere' })).toBe('/elsewhere')
    expect(savedCacheDir({ LABPROOF_QEMU_SAVED_CACHE: 'off' })).toBeUndefined()
  })
})

describe('a save being made goes with the process making it', () => {
  for (const mode of ['for the run only', 'kept across runs'] as const) {
    for (const how of ['exits', 'is killed with SIGKILL'] as const) {
      test(`${mode}: its directory is removed when the process ${how}`, async () => {
        const cache = newCache()
        const script = [
          `const { SavedStates } = await import(${JSON.stringify(MODULE)})`,
          `const claim = await new SavedStates(${JSON.stringify(PREFIX)}, () => ${mode === 'kept across runs' ? JSON.stringify(cache) : 'undefined'}).claim('k')`,
          'console.log(claim.dir)',
          how === 'exits' ? 'process.exit(0)' : 'setInterval(() => {}, 1000)',
        ].join('\n')
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
        const exited = new Promise((resolve) => child.on('exit', resolve))
        try {
          const made = await new Promise<string>((resolve) => {
            let out = ''
            child.stdout.on('data', (d) => {
              out += String(d)
              if (out.includes('\n')) resolve(out.trim())
            })
          })
          // Named after its owner: PID and start time (ownership/owner.ts); for the run only, in
          // the run's directory, which goes whole.
          const gone = mode === 'kept across runs' ? made : dirname(made)
          expect(basename(gone)).toMatch(mode === 'kept across runs' ? new RegExp(`^\\.partial-${child.pid}\\.\\d+-`) : new RegExp(`^${PREFIX}-saved-${child.pid}\\.\\d+-`))
          expect(existsSync(gone)).toBe(true)
          if (how !== 'exits') child.kill('SIGKILL')
          await exited
          // The remover runs on its own once it sees the pipe close: wait for its work, bounded.
          await waitUntil(`the remover to remove ${gone}`, () => !existsSync(gone), 10_000)
        } finally {
          child.kill('SIGKILL') // a failed expectation must not leave it running
        }
      })
    }
  }
})
