// Which accelerator a VM of the lab's kernel boots with: KVM only where that kernel really runs
// under it, TCG otherwise, decided in seconds and said with the reason. Some machines open
// /dev/kvm and run a toy guest, then stop a Linux guest at once ("KVM internal error.
// Suberror: 1 / emulation failure", nested virtualisation) and qemu pauses it: nothing more
// happens, ever. So the decision is per kernel, cached for the run (per process: one machine),
// and a boot that stops under KVM changes it to TCG (recordKvmFailure) for every later lab.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runProcess } from '../../local-process.ts'
import { ownerTag } from '../../ownership/owner.ts'

export type Accel = 'kvm' | 'tcg'

export interface AccelDecision {
  accel: Accel
  /** Said in the console and the report: "KVM failed to run the 6.1 kernel: emulation failure; using TCG". */
  why: string
  /** KVM chosen before the lab's kernel was seen running under it: the first boot is watched. */
  unproven?: boolean
}

/** The kernel a decision is about: its series ("6.1", for messages) and release (the cache key). */
export interface VmKernelRef {
  series: string
  release: string
  /** Boot this kernel (no root file system) under KVM to prove it runs; without it, the
   *  caller watches its first real boot instead. */
  vmlinuz?: string
}

const QEMU = 'qemu-system-x86_64'
/** A cloud kernel under KVM reaches its "no root" panic in about a second. */
const KERNEL_PROBE_TIMEOUT_MS = 20_000
/** Temp dirs of probes are named like a qemu lab's, so `labproof clean` removes them. */
const PROBE_DIR_PREFIX = 'labproof-qemu-kvmprobe'

const decisions = new Map<string, Promise<AccelDecision>>()
let kvmRunsAnything: Promise<AccelDecision> | undefined

/** What qemu's stderr (and QMP status) say of a guest KVM could not run, or undefined.
 *  qemu prints "KVM internal error. Suberror: N", then "emulation failure" for suberror 1,
 *  and stops the VM with status `internal-error`. */
export function kvmFailureReason(stderr: string, status?: string): string | undefined {
  // qemu (accel/kvm/kvm-all.c): "KVM internal error. Suberror: N", maybe "extra data[i]: 0x…"
  // lines, then "emulation failure" for suberror 1, then the vCPU's registers.
  const internal = /KVM internal error\. Suberror: (\d+)/.exec(stderr)
  if (internal) return /^emulation failure\s*$/m.test(stderr) ? 'emulation failure' : `KVM internal error, suberror ${internal[1]}`
  const other = /^(?:error: )?(kvm run failed[^\n]*|KVM: entry failed[^\n]*)$/im.exec(stderr)
  if (other) return other[1]!.trim()
  if (status === 'internal-error') return 'qemu stopped the guest with an internal error'
  if (status && status !== 'running') return `the guest stopped (qemu status "${status}")`
  return undefined
}

export function tcgBecause(series: string, failure: string): string {
  return `KVM failed to run the ${series} kernel: ${failure}; using TCG`
}

/** Decide for `kernel`, once per run; later calls get the same answer (or the one a failed
 *  boot recorded). LABPROOF_QEMU_ACCEL=tcg|kvm overrides. */
export function decideAccel(kernel: VmKernelRef): Promise<AccelDecision> {
  const cached = decisions.get(kernel.release)
  if (cached) return cached
  const decided = decide(kernel)
  decisions.set(kernel.release, decided)
  return decided
}

async function decide(kernel: VmKernelRef): Promise<AccelDecision> {
  const forced = process.env.LABPROOF_QEMU_ACCEL
  if (forced === 'tcg' || forced === 'kvm') return { accel: forced, why: `LABPROOF_QEMU_ACCEL=${forced}` }
  if (!existsSync('/dev/kvm')) return { accel: 'tcg', why: 'no /dev/kvm on this machine; using TCG' }
  const toy = await (kvmRunsAnything ??= probeToyGuest())
  if (toy.accel === 'tcg') return toy
  if (!kernel.vmlinuz) {
    return { accel: 'kvm', why: `KVM ran a test guest; the ${kernel.series} kernel's first boot is watched`, unproven: true }
  }
  return probeKernel(kernel)
}

/** A boot under KVM stopped: every later boot of this kernel in this run uses TCG. */
export function recordKvmFailure(kernel: VmKernelRef, failure: string): AccelDecision {
  const decision: AccelDecision = { accel: 'tcg', why: tcgBecause(kernel.series, failure) }
  decisions.set(kernel.release, Promise.resolve(decision))
  return decision
}

/** A boot under KVM reached its guest: the decision is proven. */
export function recordKvmSuccess(kernel: VmKernelRef, seconds: number): AccelDecision {
  const decision: AccelDecision = { accel: 'kvm', why: `the ${kernel.series} kernel booted under KVM (${seconds.toFixed(1)} s)` }
  decisions.set(kernel.release, Promise.resolve(decision))
  return decision
}

/** /dev/kvm may open yet run no vCPU at all: a 512-byte boot sector must write to qemu's
 *  debug-exit port under KVM within a few seconds. */
async function probeToyGuest(): Promise<AccelDecision> {
  const dir = await mkdtemp(join(tmpdir(), `${PROBE_DIR_PREFIX}-${ownerTag()}-`))
  try {
    const code = Buffer.alloc(512)
    Buffer.from([0xb0, 0x31, 0xe6, 0xf4, 0xf4, 0xeb, 0xfe]).copy(code) // mov al,0x31; out 0xf4,al; hlt
    code.writeUInt16LE(0xaa55, 510)
    await writeFile(join(dir, 'probe.img'), code)
    const r = await runProcess('setpriv', ['--pdeathsig', 'KILL', '--', QEMU, '-accel', 'kvm', '-cpu', 'max', '-M', 'pc', '-nodefaults',
      '-display', 'none', '-monitor', 'none', '-serial', 'none', '-device', 'isa-debug-exit,iobase=0xf4,iosize=1',
      '-drive', `file=${join(dir, 'probe.img')},format=raw,if=ide`], { timeoutMs: 8_000 })
    // isa-debug-exit makes qemu exit with (0x31 << 1) | 1 = 99 once the guest ran.
    if (r.exitCode === 99) return { accel: 'kvm', why: 'a KVM test guest ran' }
    const said = kvmFailureReason(r.stderr) ?? (r.timedOut ? 'no result within 8 s' : `exit ${r.exitCode}: ${r.stderr.trim().split('\n').pop() ?? ''}`)
    return { accel: 'tcg', why: `KVM did not run a test guest (${said}); using TCG` }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Boot the kernel itself under KVM with no root file system: it runs its whole start-up and
 *  panics ("VFS: Unable to mount root fs"), and with -no-reboot qemu exits. A KVM that stops
 *  Linux guests says "KVM internal error" on stderr at once; the probe ends then. */
async function probeKernel(kernel: VmKernelRef): Promise<AccelDecision> {
  const dir = await mkdtemp(join(tmpdir(), `${PROBE_DIR_PREFIX}-${ownerTag()}-`))
  const consoleLog = join(dir, 'console.log')
  const started = performance.now()
  try {
    const result = await new Promise<{ failure?: string }>((resolve) => {
      const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', QEMU, '-accel', 'kvm', '-cpu', 'max', '-m', '256', '-smp', '1',
        '-nodefaults', '-display', 'none', '-monitor', 'none', '-no-reboot', '-serial', `file:${consoleLog}`,
        '-kernel', kernel.vmlinuz!, '-append', 'console=ttyS0 panic=-1 root=/dev/labproof-no-root loglevel=4'],
      { stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      let settled = false
      const settle = (r: { failure?: string }) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        child.kill('SIGKILL')
        resolve(r)
      }
      child.stderr!.on('data', (d) => {
        stderr += String(d)
        const failure = kvmFailureReason(stderr)
        if (failure) settle({ failure })
      })
      child.on('error', (e) => settle({ failure: `cannot start ${QEMU}: ${e.message}` }))
      child.on('exit', () => void readFile(consoleLog, 'utf8').catch(() => '').then((text) => settle(
        /Kernel panic|Unable to mount root/.test(text) ? {}
          : { failure: kvmFailureReason(stderr) ?? `qemu exited before the kernel got far (${stderr.trim().split('\n').pop() || 'nothing on stderr'})` })))
      const timer = setTimeout(() => settle({ failure: `the kernel did not finish starting within ${KERNEL_PROBE_TIMEOUT_MS / 1000} s` }), KERNEL_PROBE_TIMEOUT_MS)
    })
    if (result.failure) return { accel: 'tcg', why: tcgBecause(kernel.series, result.failure) }
    return { accel: 'kvm', why: `the ${kernel.series} kernel ran under KVM (probe boot, ${((performance.now() - started) / 1000).toFixed(1)} s)` }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Forget every decision (tests start from a clean slate). */
export function forgetAccelDecisions(): void {
  decisions.clear()
  kvmRunsAnything = undefined
}
