// The checks run against a Lab; a grade has one machine, playing one role of the scenario's
// topology (host01 by default). Any other host is one the grader does not control: the plan
// leaves its checks out, and asking for it here is a bug, said plainly.
import type { Host } from '../host.ts'
import type { Lab } from '../lab.ts'
import type { Topology } from '../topology.ts'

export function singleHostLab(topology: Topology, role: string, host: Host): Lab {
  const hosts = new Map<string, Host>([[role, host]])
  return {
    backend: 'grade',
    id: `grade-${role}`,
    topology,
    hosts,
    facts: {},
    host(name: string): Host {
      if (name !== role) throw new Error(`grading controls only the student's machine (${role}), not ${name}`)
      return host
    },
    // The machine is the student's: nothing to remove.
    destroy: async () => {},
  }
}
