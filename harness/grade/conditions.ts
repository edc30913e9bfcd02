// The machine's own conditions that change what a lab does, read (never changed) and shown in
// the student's report; a check whose outcome depends on one says so.
//  - br_netfilter with bridge-nf-call-iptables = 1 sends traffic between a bridge's ports
//    through iptables FORWARD: a FORWARD policy or rule can stop a bridged ping.
//  - iptables-nft and iptables-legacy keep separate rule sets: `iptables` lists one of them.
//  - the kernel: what the networking can do at all.
import type { RawEndState } from '../endstate/probe.ts'

export const BRIDGE_NF_KEY = 'net.bridge.bridge-nf-call-iptables'

export type ConditionName = 'kernel' | 'br_netfilter' | 'iptables'

export interface MachineCondition {
  name: ConditionName
  /** What was read: `loaded, bridge-nf-call-iptables = 1`. */
  value: string
  /** What it does to the lab, in plain words. */
  effect: string
}

export function machineConditions(kernel: string | undefined, raw: RawEndState | undefined): MachineCondition[] {
  const conditions: MachineCondition[] = []
  if (kernel) conditions.push({ name: 'kernel', value: kernel, effect: 'the lab runs on this kernel\'s networking' })
  if (!raw) return conditions
  const bridgeNf = raw.sysctls[BRIDGE_NF_KEY]
  if (bridgeNf) {
    const on = bridgeNf.exitCode === 0 && bridgeNf.stdout.trim() === '1'
    conditions.push(bridgeNf.exitCode !== 0
      ? { name: 'br_netfilter', value: 'not loaded', effect: 'traffic between the ports of a bridge bypasses iptables here' }
      : {
          name: 'br_netfilter', value: `loaded, bridge-nf-call-iptables = ${bridgeNf.stdout.trim()}`,
          effect: on ? 'traffic between the ports of a bridge passes iptables FORWARD here: a FORWARD rule or policy can stop a ping across the bridge'
            : 'traffic between the ports of a bridge bypasses iptables here',
        })
  }
  const v = raw.iptablesVersion
  if (v.exitCode === 0) {
    const version = v.stdout.trim()
    const nft = /nf_tables/.test(version)
    conditions.push({
      name: 'iptables', value: version,
      effect: nft ? 'iptables here is iptables-nft: rules added with iptables-legacy are not listed by it and are not graded'
        : 'iptables here is iptables-legacy: rules added with iptables-nft (or nft) are not listed by it and are not graded',
    })
  } else {
    conditions.push({ name: 'iptables', value: 'no iptables command', effect: 'the lab\'s iptables rules cannot be read on this machine' })
  }
  return conditions
}
