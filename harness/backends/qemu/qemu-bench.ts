// Whether `npm run bench` can measure qemu here: its VM image already in the cache (the
// benchmark builds nothing).
import { access } from 'node:fs/promises'
import path from 'node:path'
import type { BenchReadiness } from '../entry.ts'
import { cacheRoot, DEFAULT_VM_KERNEL, recipeHash } from '../shared/vm-image.ts'

export async function qemuBenchReady(): Promise<BenchReadiness> {
  const dir = path.join(cacheRoot(), `${DEFAULT_VM_KERNEL}-${recipeHash()}`)
  try {
    await access(path.join(dir, 'image.json'))
    return { available: true, detail: `VM image ${dir}` }
  } catch {
    return { available: false, detail: `no cached VM image in ${dir} (run ci/build-vm-image.sh)` }
  }
}
