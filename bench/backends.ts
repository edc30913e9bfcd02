// Which backends the benchmark can measure here, as each backend's registry entry says
// (benchReady: it never builds anything). Backends not measured by default (benchByDefault
// false: qemu, whose VMs under TCG are slow) are measured when named in `also` or `only`.
import { allBackends, backendNames } from '../harness/backends/index.ts'

export interface BackendAvailability {
  backend: string
  available: boolean
  /** Why it is left out, or what it runs on. */
  detail: string
}

export async function availableBackends(opts: { also?: string[]; only?: string[] }): Promise<BackendAvailability[]> {
  const wanted = opts.only ?? [...allBackends().filter((b) => b.benchByDefault).map((b) => b.name), ...(opts.also ?? [])]
  const found: BackendAvailability[] = []
  for (const backend of [...new Set(wanted)]) {
    const entry = allBackends().find((b) => b.name === backend)
    if (!entry) found.push({ backend, available: false, detail: `not a backend (the backends: ${backendNames().join(', ')})` })
    else if (!entry.benchReady) found.push({ backend, available: false, detail: 'the benchmark cannot measure it (its entry has no benchReady)' })
    else found.push({ backend, ...await entry.benchReady() })
  }
  return found
}
