// Why this exists: docker loads br_netfilter, so frames bridged between two containers pass the
// engine host's iptables FORWARD chain, where an `--internal` network's isolation rules drop
// every packet whose source or destination lies outside docker's subnet for it. A lab's traffic
// does exactly that (8.8.8.8, namespace subnets routed across the underlay), so for each lab
// bridge we accept frames that enter and leave *that same bridge* in DOCKER-USER, the chain
// docker keeps for its users. Nothing bridged elsewhere or routed is accepted: the isolation
// rules still stop any packet from leaving the machine.
//
// The rules are set from a short-lived helper container in the engine host's network namespace
// (works with a remote engine too), and removed when their bridge is gone.
import type Dockerode from 'dockerode'
import { execInContainer } from './docker-exec.ts'

const COMMENT_PREFIX = 'labproof:'

/** Pick the iptables flavour that holds docker's chains (nft or legacy, as the engine uses). */
const FIND_IPTABLES = [
  'ipt=""',
  'for t in iptables-nft iptables-legacy iptables; do if command -v $t >/dev/null 2>&1 && $t -w -S DOCKER-USER >/dev/null 2>&1; then ipt=$t; break; fi; done',
].join('; ')

/** The name docker gives a lab network's bridge on the engine host (at most 15 characters). */
export function bridgeName(labId: string, role: string): string {
  return `lp${labId.slice(-9)}-${role.slice(0, 1)}`
}

export function acceptBridgedScript(labId: string, bridges: string[]): string {
  return [
    FIND_IPTABLES,
    // No DOCKER-USER chain: the engine manages no iptables rules, so it drops nothing either.
    '[ -n "$ipt" ] || { echo "no DOCKER-USER chain: the engine runs without iptables rules"; exit 0; }',
    ...bridges.map((b) => `$ipt -w -I DOCKER-USER -i ${b} -o ${b} -m comment --comment ${COMMENT_PREFIX}${labId} -j ACCEPT`),
  ].join('\n')
}

/** Delete every labproof rule whose bridge no longer exists. */
export const PRUNE_SCRIPT = [
  'for ipt in iptables-nft iptables-legacy; do',
  '  command -v $ipt >/dev/null 2>&1 || continue',
  `  $ipt -w -S DOCKER-USER 2>/dev/null | grep -- "--comment \\"\\?${COMMENT_PREFIX}" | while read -r rule; do`,
  '    bridge=$(echo "$rule" | sed -n "s/.* -i \\([^ ]*\\) .*/\\1/p")',
  '    [ -n "$bridge" ] && [ -e "/sys/class/net/$bridge" ] && continue',
  '    eval "$ipt -w $(echo "$rule" | sed "s/^-A /-D /")"',
  '  done',
  'done; true',
].join('\n')

/** Run `script` as root in the engine host's network namespace, from `image`. */
export async function runOnEngineHost(docker: Dockerode, image: string, script: string): Promise<void> {
  const helper = await docker.createContainer({
    Image: image,
    Cmd: ['sleep', '60'],
    Labels: { 'labproof.helper': 'bridge-firewall' },
    HostConfig: {
      NetworkMode: 'host',
      Init: true,
      CapAdd: ['NET_ADMIN', 'NET_RAW'],
      SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'],
      AutoRemove: true, // if we die mid-way it goes by itself within a minute
    },
  })
  try {
    await helper.start()
    const r = await execInContainer(helper, script, { timeoutMs: 20_000 })
    if (r.exitCode !== 0) {
      throw new Error(`could not set the engine host's DOCKER-USER rules for the lab bridges (exit ${r.exitCode}):\n$ ${script}\n${r.stdout}${r.stderr}`)
    }
  } finally {
    await helper.remove({ force: true }).catch(() => undefined)
  }
}
