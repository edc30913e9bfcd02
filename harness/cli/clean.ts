// `labproof clean`: what interrupted runs left behind, on every backend.
import { cleanLeftovers } from '../cleanup.ts'
import { parseCommand } from './usage.ts'

export const CLEAN_HELP = `usage: labproof clean

Removes what interrupted runs left behind, on every backend: netns hosts and their
namespaces, captures, docker containers and networks, qemu and Vagrant VMs. Only runs whose
labproof process is gone are touched; a run in progress keeps its labs. Also empties the
qemu backend's saved VM pairs, kept across runs so that labs start in seconds (a run in
progress boots its next lab again); built images stay.
`

export async function cleanCommand(args: string[]): Promise<number> {
  parseCommand(args, {})
  const removed = await cleanLeftovers({ caches: true })
  process.stdout.write(removed.length ? `removed:\n${removed.map((r) => `  ${r}`).join('\n')}\n` : 'nothing left behind\n')
  return 0
}
