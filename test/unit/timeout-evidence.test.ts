// Reading what a timed-out command was doing from /proc: the parsers, on lines captured from
// this kernel (6.18, x86-64). The reading itself runs against real processes in
// test/integration/shell-server.test.ts.
import { describe, expect, test } from 'vitest'
import { describeSnapshots, parseStat, stackFrames, syscallName } from '../../harness/timeout-evidence.ts'

// `sleep 3` run as '/tmp/we) ird': a command name with a parenthesis and a space.
const SLEEPING = '11276 (we) ird) S 11274 11268 11595 0 -1 4194304 131 0 0 0 1 0 0 0 20 0 1 0 7424952 2990080 425 18446744073709551615 94428537049088 94428537067017 140724264697456 0 0 0 0 6 0 1 0 0 17 1 0 0 0 0 0 94428537081104 94428537082368 94429562548224 140724264704547 140724264704562 140724264704562 140724264706027 0\n'
// `sh -c 'while :; do :; done'` after 1.5 s.
const SPINNING = '11491 (sh) R 11268 11268 11595 0 -1 4194304 129 0 0 0 118 1 0 0 20 0 1 0 7425260 2654208 403 18446744073709551615 94747832602624 94747832679353 140729668071952 0 0 0 0 6 65536 0 0 0 17 0 0 0 0 0 0 94747832708656 94747832713792 94748194123776 140729668078106 140729668078132 140729668078132 140729668079596 0\n'
const SLEEP_STACK = `[<0>] hrtimer_nanosleep+0xb5/0x130
[<0>] common_nsleep+0x30/0x60
[<0>] __x64_sys_clock_nanosleep+0xde/0x150
[<0>] do_syscall_64+0x71/0x290
[<0>] entry_SYSCALL_64_after_hwframe+0x76/0x7e
`

describe('what a timed-out command was doing', () => {
  test('stat: the name is everything between the first ( and the last ), the fields count from there', () => {
    expect(parseStat(SLEEPING)).toEqual({ name: 'we) ird', state: 'S', pgrp: 11268, utime: 1, stime: 0 })
    expect(parseStat(SPINNING)).toEqual({ name: 'sh', state: 'R', pgrp: 11268, utime: 118, stime: 1 })
    expect(parseStat('garbage')).toBeUndefined()
  })

  test('the system call it is in, by name on x86-64; none while it runs in user space', () => {
    const line = '230 0x0 0x0 0x7ffcebcefc80 0x7ffcebcefcc0 0x0 0x0 0x7ffcebcefc68 0x7f98e4a2b503'
    expect(syscallName(line)).toBe(process.arch === 'x64' ? 'clock_nanosleep(2)' : 'syscall 230')
    expect(syscallName('running')).toBeUndefined()
    expect(syscallName('-1 0x7ffcebcefc68 0x7f98e4a2b503')).toBeUndefined()
  })

  test('the kernel stack without the system-call entry', () => {
    expect(stackFrames(SLEEP_STACK)).toEqual(['hrtimer_nanosleep', 'common_nsleep', '__x64_sys_clock_nanosleep'])
  })

  test('one line per process says its state, CPU time, system call, wait and stack', () => {
    expect(describeSnapshots([
      { pid: 11491, name: 'sh', state: 'R', cpuSeconds: 1.19, kernelSeconds: 0.01, stack: [] },
      { pid: 11276, name: 'sleep', state: 'S', cpuSeconds: 0.01, kernelSeconds: 0, syscall: 'clock_nanosleep(2)', wchan: 'hrtimer_nanosleep', stack: ['hrtimer_nanosleep', 'common_nsleep'] },
    ])).toBe([
      'pid 11491 sh: running, 1.19 s of CPU (0.01 s in the kernel)',
      'pid 11276 sleep: sleeping, 0.01 s of CPU (0.00 s in the kernel), in clock_nanosleep(2), waiting in hrtimer_nanosleep, kernel stack hrtimer_nanosleep < common_nsleep',
    ].join('\n'))
  })
})
