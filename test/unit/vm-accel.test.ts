// The accelerator decision's pure parts: reading what qemu says when KVM cannot run a guest,
// and the decision a failed boot leaves for the rest of the run. The stderr fixtures follow what
// qemu prints (accel/kvm/kvm-all.c, kvm_handle_internal_error): the suberror line, "extra data"
// lines where the kernel gives them, "emulation failure" for suberror 1, then the registers.
import { afterEach, describe, expect, test } from 'vitest'
import { decideAccel, forgetAccelDecisions, kvmFailureReason, recordKvmFailure, recordKvmSuccess, tcgBecause } from '../../harness/backends/shared/vm-accel.ts'

const EMULATION_FAILURE = [
  'KVM internal error. Suberror: 1',
  'emulation failure',
  'RAX=ffffffff81e0f1a0 RBX=0000000000000000 RCX=0000000000000000 RDX=0000000000000000',
  'RIP=ffffffff81001f2d RFL=00010046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=0',
].join('\n')

const EMULATION_FAILURE_WITH_DATA = [
  'KVM internal error. Suberror: 1',
  'extra data[0]: 0x0000000000000000',
  'extra data[1]: 0x0000000000000030',
  'emulation failure',
  'RAX=00000000bff13980 RBX=0000000000008101 RCX=0000000000000002 RDX=0000000000000001',
].join('\n')

const SUBERROR_2 = ['KVM internal error. Suberror: 2', 'extra data[0]: 80000008', 'extra data[1]: 80000b08'].join('\n')

describe('kvmFailureReason', () => {
  test('names an emulation failure, with or without extra data lines', () => {
    expect(kvmFailureReason(EMULATION_FAILURE)).toBe('emulation failure')
    expect(kvmFailureReason(EMULATION_FAILURE_WITH_DATA)).toBe('emulation failure')
  })

  test('names other suberrors by number', () => {
    expect(kvmFailureReason(SUBERROR_2)).toBe('KVM internal error, suberror 2')
  })

  test('a failed KVM_RUN', () => {
    expect(kvmFailureReason('error: kvm run failed Bad address\nRAX=0\n')).toBe('kvm run failed Bad address')
  })

  test('a guest qemu paused says its status; a running one says nothing', () => {
    expect(kvmFailureReason('', 'internal-error')).toBe('qemu stopped the guest with an internal error')
    expect(kvmFailureReason('', 'paused')).toBe('the guest stopped (qemu status "paused")')
    expect(kvmFailureReason('', 'running')).toBeUndefined()
    expect(kvmFailureReason('qemu-system-x86_64: warning: host doesn\'t support requested feature\n')).toBeUndefined()
  })

  test('the reason stderr gives wins over the status', () => {
    expect(kvmFailureReason(EMULATION_FAILURE, 'internal-error')).toBe('emulation failure')
  })
})

describe('the decision for the run', () => {
  const kernel = { series: '6.1', release: '6.1.0-99-cloud-amd64' }
  const saved = process.env.LABPROOF_QEMU_ACCEL
  afterEach(() => {
    forgetAccelDecisions()
    if (saved === undefined) delete process.env.LABPROOF_QEMU_ACCEL
    else process.env.LABPROOF_QEMU_ACCEL = saved
  })

  test('LABPROOF_QEMU_ACCEL decides, and says so', async () => {
    process.env.LABPROOF_QEMU_ACCEL = 'tcg'
    expect(await decideAccel(kernel)).toEqual({ accel: 'tcg', why: 'LABPROOF_QEMU_ACCEL=tcg' })
  })

  test('a boot KVM stopped makes every later decision for that kernel TCG, with the reason', async () => {
    process.env.LABPROOF_QEMU_ACCEL = 'kvm'
    expect((await decideAccel(kernel)).accel).toBe('kvm')
    recordKvmFailure(kernel, 'emulation failure')
    const later = await decideAccel(kernel)
    expect(later).toEqual({ accel: 'tcg', why: 'KVM failed to run the 6.1 kernel: emulation failure; using TCG' })
    expect(later.why).toBe(tcgBecause('6.1', 'emulation failure'))
    // Another kernel is decided on its own.
    expect((await decideAccel({ series: '6.12', release: '6.12.0-99-cloud-amd64' })).accel).toBe('kvm')
  })

  test('a boot that reached its guest proves KVM for the kernel', async () => {
    process.env.LABPROOF_QEMU_ACCEL = 'kvm'
    await decideAccel(kernel)
    recordKvmSuccess(kernel, 2.54)
    expect(await decideAccel(kernel)).toEqual({ accel: 'kvm', why: 'the 6.1 kernel booted under KVM (2.5 s)' })
  })
})
