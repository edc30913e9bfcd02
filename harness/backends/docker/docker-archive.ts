// The engine's archive API (`GET /containers/{id}/archive`) answers with a tar stream; a copy of
// one file is the first regular file in it. A small reader here instead of a tar dependency:
// ustar headers, with pax ('x') and GNU long-name ('L') records before an entry.

export type TarEntry =
  | { kind: 'file'; name: string; content: Buffer }
  | { kind: 'symlink'; name: string; target: string }
  | { kind: 'other'; name: string; typeflag: string }

const BLOCK = 512

/** The first entry of a tar archive that is not a metadata record. */
export function firstTarEntry(tar: Buffer): TarEntry {
  let offset = 0
  let longName: string | undefined
  let paxSize: number | undefined
  let paxPath: string | undefined
  let paxLinkpath: string | undefined
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK)
    if (header.every((b) => b === 0)) break
    const typeflag = String.fromCharCode(header[156]!) || '0'
    const size = paxSize ?? parseSize(header.subarray(124, 136))
    const body = tar.subarray(offset + BLOCK, offset + BLOCK + size)
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK
    if (typeflag === 'x' || typeflag === 'g') {
      const pax = parsePax(body)
      if (typeflag === 'x') {
        paxSize = pax.size !== undefined ? Number(pax.size) : undefined
        paxPath = pax.path
        paxLinkpath = pax.linkpath
      }
      continue
    }
    if (typeflag === 'L') {
      longName = cString(body)
      continue
    }
    const prefix = cString(header.subarray(345, 500))
    const name = paxPath ?? longName ?? (prefix ? `${prefix}/` : '') + cString(header.subarray(0, 100))
    if (typeflag === '0' || typeflag === '\0' || typeflag === '7') {
      if (body.length < size) throw new Error(`the tar archive ends inside ${name} (${body.length} of ${size} bytes)`)
      return { kind: 'file', name, content: Buffer.from(body) }
    }
    if (typeflag === '2') return { kind: 'symlink', name, target: paxLinkpath ?? cString(header.subarray(157, 257)) }
    return { kind: 'other', name, typeflag }
  }
  throw new Error('the tar archive holds no entry')
}

function cString(b: Buffer): string {
  const end = b.indexOf(0)
  return b.subarray(0, end === -1 ? b.length : end).toString('utf8')
}

function parseSize(field: Buffer): number {
  // Sizes past 8 GiB are base-256, flagged by the high bit of the first byte.
  if (field[0]! & 0x80) {
    let n = 0
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!
    return n
  }
  const text = cString(field).trim()
  return text ? parseInt(text, 8) : 0
}

function parsePax(body: Buffer): Record<string, string> {
  const records: Record<string, string> = {}
  let at = 0
  while (at < body.length) {
    const space = body.indexOf(0x20, at)
    if (space === -1) break
    const length = Number(body.subarray(at, space).toString())
    if (!length) break
    const record = body.subarray(space + 1, at + length - 1).toString('utf8')
    const eq = record.indexOf('=')
    if (eq > 0) records[record.slice(0, eq)] = record.slice(eq + 1)
    at += length
  }
  return records
}
