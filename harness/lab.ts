// A lab is one provisioned topology: its hosts by name (host01, host02, gateway, internet),
// and the one call that removes everything the backend created for it.
import type { Host, KernelFeature } from './host.ts'
import type { Topology } from './topology.ts'

export interface Lab {
  readonly backend: string
  /** Unique per lab; every resource the backend creates carries it. */
  readonly id: string
  readonly topology: Topology
  readonly hosts: ReadonlyMap<string, Host>
  /** Backend facts shown in the report (image, kernel, provisioning time). */
  readonly facts: Record<string, string>
  /** Kernel features whose state the hosts share with the machine and with other labs on it
   *  (the netns backend's cgroup v1 hierarchies): steps using them run one lab at a time. */
  readonly machineWide?: readonly KernelFeature[]
  /** The least time, in seconds, a check waits before it concludes a ping gets no reply
   *  (see checks/reply-wait.ts); a second when unset. Backends whose hosts share this kernel
   *  answer in microseconds and set less. */
  readonly noReplyWaitS?: number
  host(name: string): Host
  destroy(): Promise<void>
}

export interface ProvisionOptions {
  /** Distro or image for backends that have one. */
  distro?: string
  kernel?: string
}

export interface Backend {
  readonly name: string
  /** What the backend needs on this machine (root, a daemon, binaries, a known kernel),
   *  checked before a run starts: throws one line naming the requirement and what to do. */
  preflight?(opts?: ProvisionOptions): Promise<void>
  provision(topology: Topology, opts?: ProvisionOptions): Promise<Lab>
}

/** noReplyWaitS of backends whose hosts are namespaces or containers on this kernel: the
 *  slowest of 303 replies in three whole suites run at once on 2 cores took 0.107 ms. */
export const LOCAL_KERNEL_NO_REPLY_WAIT_S = 0.1

export function newLabId(): string {
  return `lp${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
}

export function hostLookup(hosts: ReadonlyMap<string, Host>, backend: string) {
  return (name: string): Host => {
    const h = hosts.get(name)
    if (!h) throw new Error(`no host "${name}" in this ${backend} lab; hosts are: ${[...hosts.keys()].join(', ')}`)
    return h
  }
}
