// Why this exists: docker loads br_netfilter, so frames bridged between two containers pass the
// engine host's iptables FORWARD chain, where an `--internal` network's isolation rules drop
// every packet whose source or destination lies outside docker's subnet for it. A lab's traffic
// does exactly that (8.8.8.8, namespace subnets routed across the underlay), so for each lab
// bridge we accept frames that enter and leave *that same bridge* in DOCKER-USER, the chain
// docker keeps for its users. Nothing bridged elsewhere or routed is accepted: the isolation
// rules still stop any packet from leaving the machine.
//
// The same rule goes at the top of DOCKER-ISOLATION-STAGE-1 too: whenever any network is
// created or removed, docker moves its jumps to the top of FORWARD one after the other (the
// isolation jump first, DOCKER-USER's next), and for that moment a lab's packets meet the
// isolation rules before DOCKER-USER. Another lab starting or ending dropped a running lab's
// pings that way. Docker inserts a new network's isolation rules above ours, but those name
// only that network's bridge.
//
// The rules are set from a short-lived helper container in the engine host's network namespace
// (works with a remote engine too), and removed when their bridge is gone.
import type Dockerode from 'dockerode'
import { execInContainer } from './docker-exec.ts'

const COMMENT_PREFIX = 'labproof:'

/** The name docker gives a lab network's bridge on the engine host (at most 15 characters). */
export function bridgeName(labId: string, role: string): string {
  return `lp${labId.slice(-9)}-${role.slice(0, 1)}`
}

/** For IPv4 and IPv6: the iptables flavour (nft or legacy) that holds docker's DOCKER-USER chain. */
function forEachDockerFirewall(body: string[]): string[] {
  return [
    'for family in iptables ip6tables; do',
    '  ipt=""',
    '  legacy_tables=/proc/net/ip_tables_names; [ $family = ip6tables ] && legacy_tables=/proc/net/ip6_tables_names',
    '  for t in $family-nft $family-legacy $family; do',
    '    command -v $t >/dev/null 2>&1 || continue',
    // Listing a legacy table creates it in the engine host's namespace: look only at one that exists.
    '    case "$($t -V 2>/dev/null)" in *nf_tables*) ;; *) grep -qx filter $legacy_tables 2>/dev/null || continue ;; esac',
    '    if $t -w -S DOCKER-USER >/dev/null 2>&1; then ipt=$t; break; fi',
    '  done',
    // No DOCKER-USER chain: the engine manages no rules for this family, so it drops nothing either.
    '  [ -n "$ipt" ] || continue',
    ...body.map((l) => `  ${l}`),
    'done',
  ]
}

/** The chains that get the rule, where they exist. */
const CHAINS = ['DOCKER-USER', 'DOCKER-ISOLATION-STAGE-1']

export function acceptBridgedScript(labId: string, bridges: string[]): string {
  return forEachDockerFirewall([
    `for chain in ${CHAINS.join(' ')}; do`,
    '  $ipt -w -S $chain >/dev/null 2>&1 || continue',
    ...bridges.map((b) => `  $ipt -w -I $chain -i ${b} -o ${b} -m comment --comment ${COMMENT_PREFIX}${labId} -j ACCEPT || exit 1`),
    'done',
  ]).join('\n')
}

/** Delete every labproof rule whose bridge no longer exists. */
export const PRUNE_SCRIPT = [
  ...forEachDockerFirewall([
    `for chain in ${CHAINS.join(' ')}; do`,
    `$ipt -w -S $chain 2>/dev/null | grep -- "--comment \\"\\?${COMMENT_PREFIX}" | while read -r rule; do`,
    '  bridge=$(echo "$rule" | sed -n "s/.* -i \\([^ ]*\\) .*/\\1/p")',
    '  [ -n "$bridge" ] && [ -e "/sys/class/net/$bridge" ] && continue',
    '  eval "$ipt -w $(echo "$rule" | sed "s/^-A /-D /")"',
    'done',
    'done',
  ]),
  'true',
].join('\n')

/** Run `script` as root in the engine host's network namespace, from `image`. */
export async function runOnEngineHost(docker: Dockerode, image: string, script: string): Promise<void> {
  const helper = await docker.createContainer({
    Image: image,
    Entrypoint: ['sleep'], // whatever the image's own entrypoint is
    Cmd: ['60'],
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
