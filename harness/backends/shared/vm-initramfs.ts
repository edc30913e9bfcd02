// The small initramfs labproof's VMs boot with: Debian's cloud kernels have NVMe built in but
// virtio_blk as a module, and qemu cannot save (migrate) a VM with an NVMe disk. So the root
// disk is virtio-blk, and this initramfs loads its driver with a static busybox, mounts the disk
// and hands over to the image's own init. Shared by the qemu backend's image and the Vagrant box.
import { readFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { runProcess } from '../../local-process.ts'
import { newcArchive, type CpioEntry } from './cpio.ts'

/** Modules the initramfs loads to see a virtio disk (their dependencies are added). */
export const INITRAMFS_MODULES = ['virtio_pci', 'virtio_blk']

/** The initramfs's /init: load the block driver, mount the disk (root=, default /dev/vda),
 *  and hand over to `next` on it. */
export function initramfsInit(next: string): string {
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
for m in $(cat /modules/order); do insmod /modules/$m || echo "labproof-initramfs: insmod $m failed"; done
root=/dev/vda
for word in $(cat /proc/cmdline); do case "$word" in root=*) root=\${word#root=} ;; esac; done
i=0
until [ -b "$root" ]; do
  i=$((i + 1)); [ $i -gt 300 ] && { echo "labproof-initramfs: no $root"; sleep 5; exit 1; }
  sleep 0.1
done
mount -t ext4 -o rw "$root" /newroot || { echo "labproof-initramfs: cannot mount $root"; sleep 5; exit 1; }
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot ${next}
`
}

/** Modules in load order (dependencies first), from the kernel's modules.dep; one built into
 *  the kernel (modules.builtin: Debian's 6.12 cloud kernel has virtio_pci so) needs no loading. */
export function moduleLoadOrder(modulesDep: string, wanted: string[], modulesBuiltin = ''): string[] {
  const deps = new Map<string, string[]>()
  for (const line of modulesDep.split('\n')) {
    const [mod, rest] = line.split(':')
    if (mod && rest !== undefined) deps.set(mod.trim(), rest.trim().split(/\s+/).filter(Boolean))
  }
  const nameOf = (path: string) => basename(path).replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_')
  const byName = (name: string) => [...deps.keys()].find((p) => nameOf(p) === name)
  const builtin = new Set(modulesBuiltin.split('\n').filter(Boolean).map(nameOf))
  const order: string[] = []
  const visit = (path: string) => {
    if (order.includes(path)) return
    for (const d of deps.get(path) ?? []) visit(d)
    order.push(path)
  }
  for (const name of wanted) {
    if (builtin.has(name)) continue
    const path = byName(name)
    if (!path) throw new Error(`building the initramfs: the kernel has no module ${name} (not in modules.dep)`)
    visit(path)
  }
  return order
}

/** A module as busybox's insmod takes it: newer kernels ship them xz- or zstd-compressed. */
async function plainModule(file: string): Promise<Buffer> {
  const tool = file.endsWith('.xz') ? 'xz' : file.endsWith('.zst') ? 'zstd' : undefined
  if (!tool) return readFile(file)
  const r = await runProcess('sh', ['-c', `${tool} -dc "$1" | base64 -w0`, 'sh', file], { timeoutMs: 60_000 })
  if (r.exitCode !== 0) throw new Error(`building the initramfs: ${tool} -dc ${file} failed (apt-get install ${tool === 'xz' ? 'xz-utils' : 'zstd'}): ${r.stderr.trim()}`)
  return Buffer.from(r.stdout, 'base64')
}

/** The initramfs (newc cpio) for the kernel whose modules are in `modulesDir`. */
export async function buildInitramfs(modulesDir: string, busybox: string, next: string): Promise<Buffer> {
  const builtin = await readFile(join(modulesDir, 'modules.builtin'), 'utf8').catch(() => '')
  const order = moduleLoadOrder(await readFile(join(modulesDir, 'modules.dep'), 'utf8'), INITRAMFS_MODULES, builtin)
  const plainName = (p: string) => basename(p).replace(/\.ko\.\w+$/, '.ko')
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'newroot', 'modules'].map((d) => ({ path: d, type: 'dir' as const })),
    { path: 'dev/console', type: 'char', major: 5, minor: 1 },
    { path: 'bin/busybox', type: 'file', data: await readFile(busybox), mode: 0o755 },
    { path: 'init', type: 'file', data: Buffer.from(initramfsInit(next)), mode: 0o755 },
    { path: 'modules/order', type: 'file', data: Buffer.from(order.map(plainName).join('\n') + '\n') },
  ]
  for (const p of order) entries.push({ path: `modules/${plainName(p)}`, type: 'file', data: await plainModule(join(modulesDir, p)) })
  return newcArchive(entries)
}
