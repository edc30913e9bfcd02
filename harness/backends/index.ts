// Backends by name. Each lives in its own file; nothing outside backends/ knows their insides.
import type { Backend } from '../lab.ts'
import { netnsBackend } from './netns.ts'

const BACKENDS: Record<string, () => Promise<Backend>> = {
  netns: async () => netnsBackend,
  docker: async () => (await import('./docker.ts')).dockerBackend,
  qemu: async () => (await import('./qemu.ts')).qemuBackend,
  vagrant: async () => (await import('./vagrant.ts')).vagrantBackend,
}

export const BACKEND_NAMES = Object.keys(BACKENDS)

export async function backendByName(name: string): Promise<Backend> {
  const load = BACKENDS[name]
  if (!load) throw new Error(`unknown backend "${name}"; choose one of: ${BACKEND_NAMES.join(', ')}`)
  return load()
}
