// A process that takes the ownership lock, for the lock tests. Speaks on stdout, one line per
// event ("waiting", "locked", "released", "overlap"), so the test waits on what it says.
//   lock-worker.ts FILE rounds MARKER   take the lock `rounds` times; inside, create MARKER
//                                       exclusively (it exists: another holder is inside) and
//                                       remove it before letting go
//   lock-worker.ts FILE hold            take it once and keep it until killed
import { open, unlink } from 'node:fs/promises'
import { Lock } from '../../harness/ownership/lock.ts'

const [file, roundsOrHold, marker] = process.argv.slice(2)
const say = (line: string) => process.stdout.write(`${line}\n`)
const onWait = () => say('waiting')

if (roundsOrHold === 'hold') {
  await Lock.acquire(file!, { purpose: 'holding it for a test', onWait })
  say('locked')
  setInterval(() => {}, 60_000)
} else {
  for (let round = 0; round < Number(roundsOrHold); round++) {
    const lock = await Lock.acquire(file!, { purpose: 'a test round', onWait })
    say('locked')
    try {
      const inside = await open(marker!, 'wx')
      // Stay inside across a few turns of the event loop and a write, so a second holder would
      // find the marker.
      await inside.write(`${process.pid}\n`)
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
      await inside.close()
      await unlink(marker!)
    } catch (e) {
      say(`overlap: ${(e as Error).message}`)
      process.exit(3)
    }
    await lock.release()
    say('released')
  }
}
