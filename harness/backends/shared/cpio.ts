// A newc ("070701") cpio archive, the format the kernel unpacks as an initramfs. Written here
// so building the Vagrant box needs no cpio binary and no root-owned files on disk: owners,
// modes and device numbers are whatever the entries say.

export type CpioEntry =
  | { path: string; type: 'dir'; mode?: number }
  | { path: string; type: 'file'; data: Buffer; mode?: number }
  | { path: string; type: 'symlink'; target: string }
  | { path: string; type: 'char'; major: number; minor: number; mode?: number }

const TYPE_BITS = { dir: 0o040000, file: 0o100000, symlink: 0o120000, char: 0o020000 } as const

function pad4(n: number): Buffer {
  return Buffer.alloc((4 - (n % 4)) % 4)
}

function header(fields: number[]): Buffer {
  return Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`, 'ascii')
}

function record(ino: number, mode: number, name: string, data: Buffer, rdev: [number, number] = [0, 0]): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8')
  // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  const head = header([ino, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0])
  const afterName = head.length + nameBytes.length
  return Buffer.concat([head, nameBytes, pad4(afterName), data, pad4(data.length)])
}

/** The archive's bytes; every entry is owned by root. Parents must come before children. */
export function newcArchive(entries: CpioEntry[]): Buffer {
  const parts = entries.map((e, i) => {
    const name = e.path.replace(/^\/+/, '')
    switch (e.type) {
      case 'dir': return record(i + 1, TYPE_BITS.dir | (e.mode ?? 0o755), name, Buffer.alloc(0))
      case 'file': return record(i + 1, TYPE_BITS.file | (e.mode ?? 0o644), name, e.data)
      case 'symlink': return record(i + 1, TYPE_BITS.symlink | 0o777, name, Buffer.from(e.target, 'utf8'))
      case 'char': return record(i + 1, TYPE_BITS.char | (e.mode ?? 0o600), name, Buffer.alloc(0), [e.major, e.minor])
    }
  })
  return Buffer.concat([...parts, record(0, 0, 'TRAILER!!!', Buffer.alloc(0))])
}
