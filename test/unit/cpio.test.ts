import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { newcArchive } from '../../harness/backends/shared/cpio.ts'
import { moduleLoadOrder } from '../../harness/backends/shared/vm-initramfs.ts'

/** Read a newc archive back: name, mode, rdev and data of each entry. */
function readNewc(buf: Buffer) {
  const entries: Array<{ name: string; mode: number; rdev: [number, number]; data: Buffer }> = []
  let off = 0
  for (;;) {
    expect(buf.toString('ascii', off, off + 6)).toBe('070701')
    const field = (i: number) => parseInt(buf.toString('ascii', off + 6 + i * 8, off + 14 + i * 8), 16)
    const [mode, size, rdevMajor, rdevMinor, nameSize] = [field(1), field(6), field(9), field(10), field(11)]
    const name = buf.toString('utf8', off + 110, off + 110 + nameSize - 1)
    const dataStart = Math.ceil((off + 110 + nameSize) / 4) * 4
    if (name === 'TRAILER!!!') return entries
    entries.push({ name, mode, rdev: [rdevMajor, rdevMinor], data: buf.subarray(dataStart, dataStart + size) })
    off = Math.ceil((dataStart + size) / 4) * 4
  }
}

describe('newc cpio (the initramfs format)', () => {
  const archive = newcArchive([
    { path: 'bin', type: 'dir' },
    { path: 'dev/console', type: 'char', major: 5, minor: 1 },
    { path: '/init', type: 'file', data: Buffer.from('#!/bin/sh\n'), mode: 0o755 },
    { path: 'bin/sh', type: 'symlink', target: 'busybox' },
  ])

  test('entries come back with their names, types, modes, device numbers and data, 4-byte aligned', () => {
    expect(archive.length % 4).toBe(0)
    const entries = readNewc(archive)
    expect(entries.map((e) => [e.name, e.mode.toString(8)])).toEqual([
      ['bin', '40755'], ['dev/console', '20600'], ['init', '100755'], ['bin/sh', '120777'],
    ])
    expect(entries[1]!.rdev).toEqual([5, 1])
    expect(entries[2]!.data.toString()).toBe('#!/bin/sh\n')
    expect(entries[3]!.data.toString()).toBe('busybox')
  })

  test('bsdtar (libarchive) lists it the same way', (ctx) => {
    if (spawnSync('sh', ['-c', 'command -v bsdtar']).status !== 0) ctx.skip('no bsdtar (apt-get install libarchive-tools)')
    const dir = mkdtempSync(join(tmpdir(), 'labproof-cpio-'))
    try {
      writeFileSync(join(dir, 'a.cpio'), archive)
      const listing = spawnSync('bsdtar', ['-tvf', join(dir, 'a.cpio')], { encoding: 'utf8' })
      expect(listing.status).toBe(0)
      const lines = listing.stdout.trim().split('\n')
      expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(['drwxr-xr-x', 'crw-------', '-rwxr-xr-x', 'lrwxrwxrwx'])
      expect(lines[3]).toMatch(/bin\/sh -> busybox$/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('moduleLoadOrder', () => {
  // From Debian's 6.1.0-56-cloud-amd64 modules.dep.
  const modulesDep = [
    'kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko',
    'kernel/drivers/virtio/virtio_ring.ko:',
    'kernel/drivers/virtio/virtio_pci_modern_dev.ko:',
    'kernel/drivers/virtio/virtio_pci_legacy_dev.ko:',
    'kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
    'kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
  ].join('\n')

  test('dependencies first, each module once', () => {
    expect(moduleLoadOrder(modulesDep, ['virtio_pci', 'virtio_blk']).map((p) => p.split('/').pop())).toEqual([
      'virtio_pci_legacy_dev.ko', 'virtio_pci_modern_dev.ko', 'virtio_ring.ko', 'virtio.ko', 'virtio_pci.ko', 'virtio_blk.ko',
    ])
  })

  test('a module built into the kernel is not loaded (Debian 6.12 cloud: virtio_pci)', () => {
    const builtin = ['kernel/drivers/virtio/virtio.ko', 'kernel/drivers/virtio/virtio_ring.ko', 'kernel/drivers/virtio/virtio_pci.ko', ''].join('\n')
    const dep612 = 'kernel/drivers/block/virtio_blk.ko:\n'
    expect(moduleLoadOrder(dep612, ['virtio_pci', 'virtio_blk'], builtin).map((p) => p.split('/').pop())).toEqual(['virtio_blk.ko'])
    expect(() => moduleLoadOrder(dep612, ['virtio_pci', 'virtio_blk'])).toThrow(/no module virtio_pci/)
  })

  test('a module the kernel does not have is an error that names it', () => {
    expect(() => moduleLoadOrder(modulesDep, ['nvme_tcp'])).toThrow(/no module nvme_tcp/)
  })
})
