// The lab's own traffic, derived from its reference end state: what its namespaces send through
// the host. A namespace whose default route points at an address of the host reaches the
// internet through the host (out of its uplink); one whose route to another namespace's subnet
// points at the host is routed to it. Each flow comes with its reply (ESTABLISHED). A rule of
// the student's that differs from the lab's is judged by what it does to these flows.
import type { Topology } from '../topology.ts'
import { cidrContains, type Flow, type FlowInterface } from './iptables-rule.ts'
import type { MachineState } from './model.ts'
import { normalDestination } from './route.ts'

/** An uplink placeholder, resolved per machine (the lab's underlay, a student's default route). */
const UPLINK: FlowInterface = { uplink: true }

export function labFlows(ref: MachineState, topology: Topology): Flow[] {
  if (ref.sysctls['net.ipv4.ip_forward'] !== '1') return []
  const hostLinks = ref.links.filter((l) => l.ns === '')
  const hostLinkWith = (ip: string) => hostLinks.find((l) => l.addresses.some((a) => a.split('/')[0] === ip))
  const hostLinkOnSubnet = (ip: string) => hostLinks.find((l) => l.addresses.some((a) => cidrContains(a, ip)))
  const internet = topology.internet.addresses[0]!
  const flows: Flow[] = []
  const seen = new Set<string>()
  const add = (f: Flow) => {
    const key = `${f.src}>${f.dst}`
    if (seen.has(key)) return
    seen.add(key)
    flows.push(f, {
      label: `${f.label} (the reply)`, src: f.dst, dst: f.src, proto: f.proto,
      ...(f.out ? { in: f.out } : {}), ...(f.in ? { out: f.in } : {}), state: 'ESTABLISHED',
    })
  }
  for (const ns of ref.namespaces) {
    const sources = ref.links.filter((l) => l.ns === ns).flatMap((l) => l.addresses.map((a) => a.split('/')[0]!))
    for (const route of ref.routes.filter((r) => r.ns === ns && r.via)) {
      const gatewayLink = hostLinkWith(route.via!)
      if (!gatewayLink) continue
      for (const src of sources) {
        if (normalDestination(route.dst) === 'default') {
          add({ label: `${ns} (${src}) → ${internet}`, src, dst: internet, proto: 'icmp', in: { name: gatewayLink.name }, out: UPLINK, state: 'NEW' })
        }
        for (const other of ref.namespaces.filter((o) => o !== ns)) {
          for (const dst of ref.links.filter((l) => l.ns === other).flatMap((l) => l.addresses.map((a) => a.split('/')[0]!))) {
            const covered = normalDestination(route.dst) === 'default' || cidrContains(route.dst, dst)
            const outLink = hostLinkOnSubnet(dst)
            if (!covered || !outLink || outLink.name === gatewayLink.name) continue
            add({ label: `${ns} (${src}) → ${other} (${dst})`, src, dst, proto: 'icmp', in: { name: gatewayLink.name }, out: { name: outLink.name }, state: 'NEW' })
          }
        }
      }
    }
  }
  return flows
}

/** A flow on one machine: its uplink named (or left unknown). */
export function onMachine(f: Flow, uplink: string | undefined): Flow {
  const resolve = (i?: FlowInterface): FlowInterface | undefined => (i && 'uplink' in i ? { uplink: true, ...(uplink ? { name: uplink } : {}) } : i)
  const inIface = resolve(f.in)
  const outIface = resolve(f.out)
  return { ...f, ...(inIface ? { in: inIface } : {}), ...(outIface ? { out: outIface } : {}) }
}

/** The interface of a machine's default route in its root namespace. */
export function uplinkOf(state: MachineState): string | undefined {
  return state.routes.find((r) => r.ns === '' && normalDestination(r.dst) === 'default')?.dev
}
