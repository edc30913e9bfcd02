// Probe a host's kernel features by trying them, in a scratch network namespace so the host is
// left exactly as it was, and list the tools it has. One shell round trip per host.
import { KERNEL_FEATURES, TOOLS, type Capabilities, type Host, type KernelFeature, type Tool } from './host.ts'

// The link kinds are tried as `ip` commands (without the "ip"): all in one `ip -force -batch`,
// which goes on after a failed line and names it ("Command failed -:N"), so a dozen trials cost
// one process instead of a dozen shells and `ip`s (0.2 s on a quiet machine of 2 cores, 15 ms
// as a batch). A feature's verdict is its last line's; the lines before it make what it needs.
const LINK_TRIALS: Partial<Record<KernelFeature, string[]>> = {
  veth: ['link add lp-veth0 type veth peer name lp-veth1'],
  bridge: ['link add lp-br type bridge'],
  vxlan: ['link add lp-vxlan type vxlan id 42 dstport 4789'],
  macvlan: ['link add lp-eth0 type veth peer name lp-eth1', 'link add link lp-eth0 name lp-macvlan type macvlan'],
  ipvlan: ['link add lp-eth2 type veth peer name lp-eth3', 'link add link lp-eth2 name lp-ipvlan type ipvlan'],
  ipip: ['link add lp-ipip type ipip local 192.0.2.1 remote 192.0.2.2'],
  gre: ['link add lp-gre type gre local 192.0.2.1 remote 192.0.2.2'],
  sit: ['link add lp-sit type sit local 192.0.2.1 remote 192.0.2.2'],
  dummy: ['link add lp-dummy type dummy'],
  vlan: ['link add lp-eth4 type veth peer name lp-eth5', 'link add link lp-eth4 name lp-vlan type vlan id 5'],
  tun: ['tuntap add lp-tun mode tun'],
}

const SHELL_TRIALS: Partial<Record<KernelFeature, string>> = {
  nf_nat: 'iptables -t nat -A POSTROUTING -s 192.0.2.0/24 -j MASQUERADE',
  // In a scratch mount namespace, as the cgroup v1 examples do it: mount the freezer hierarchy
  // and make (and remove) a cgroup, named after a mktemp directory so concurrent probes differ.
  timens: 'unshare -fT --boottime 1 true',
  cgroup1_freezer: 'd=$(mktemp -d) && unshare -m sh -c "mount -t cgroup -o freezer labproof-probe $d && mkdir $d/lp-${d##*/} && rmdir $d/lp-${d##*/}"; r=$?; rmdir "$d"; [ $r = 0 ]',
}

const LINK_FEATURES = Object.keys(LINK_TRIALS) as KernelFeature[]
/** Every batch line in order, each with the feature it decides (none: it only makes what the next needs). */
const BATCH_LINES = LINK_FEATURES.flatMap((f) => LINK_TRIALS[f]!.map((line, i, all) => ({ line, feature: i === all.length - 1 ? f : undefined })))

/** One trial as a background job printing `feature:F=ok`, or its error folded onto one line of
 *  at most 160 characters by builtins (printf's precision), without a tr and a cut. */
function shellTrial(feature: KernelFeature, command: string): string {
  return `{ if out=$( { ${command}; } 2>&1); then echo feature:${feature}=ok; else set -f; IFS='\n'; set -- $out; IFS=' '; printf 'feature:${feature}=%.160s\n' "$*"; fi; } &`
}

/** The link trials: as one batch where `ip` takes -force -batch (each output line printed as
 *  `ip-batch:LINE` by one echo, so the other jobs' lines cannot cut into it), else each its own. */
function linkTrials(): string {
  const batch = BATCH_LINES.map((l) => l.line).join('\n')
  const single = LINK_FEATURES.map((f) => shellTrial(f, LINK_TRIALS[f]!.map((l, i, all) => `ip ${l}${i < all.length - 1 ? ' 2>/dev/null' : ''}`).join('; ')))
  return [
    'if ip -force -batch - </dev/null >/dev/null 2>&1; then',
    `{ out=$(ip -force -batch - 2>&1 <<'LABPROOF_BATCH'\n${batch}\nLABPROOF_BATCH\n); set -f; IFS='\n'; for l in $out; do echo "ip-batch:$l"; done; echo ip-batch-done; } &`,
    'else',
    ...single,
    'fi',
  ].join('\n')
}

export function probeScript(): string {
  // Shell builtins wherever they do: on a loaded machine each process costs 10-30 ms.
  const tools = TOOLS.map((t) => `command -v ${t} >/dev/null 2>&1 && echo tool:${t}=1 || echo tool:${t}=0`)
  const trials = [linkTrials(), ...Object.entries(SHELL_TRIALS).map(([f, command]) => shellTrial(f as KernelFeature, command))]
  return [
    // The kernel's release as uname -r prints it, read without starting uname.
    '{ read -r r < /proc/sys/kernel/osrelease; } 2>/dev/null || r=$(uname -r); echo "release=$r"',
    'if [ -r /etc/os-release ]; then . /etc/os-release; fi; echo "distro=${PRETTY_NAME:-unknown}"',
    'v=$(ip -V 2>/dev/null); case $v in *iproute2-*) v=${v#*iproute2-}; v=iproute2-${v%%[ ,]*} ;; *) v= ;; esac; echo "version:iproute2=$v"',
    'echo "version:iptables=$(iptables -V 2>/dev/null)"',
    ...tools,
    // The trials run in a scratch network namespace: nothing they create outlives the probe.
    `unshare --net sh -c '${[...trials, 'wait'].join('\n').replace(/'/g, `'\\''`)}' || echo "probe-failed=unshare --net did not run"`,
  ].join('\n')
}

/** `feature:F=…` lines from the batch's output: a line named in "Command failed -:N" failed
 *  with the messages printed since the previous such line; every other line of it worked. */
function batchVerdicts(output: string[]): Map<string, string> {
  const verdicts = new Map<string, string>()
  if (!output.includes('ip-batch-done')) return verdicts
  const failed = new Map<number, string>()
  let messages: string[] = []
  for (const line of output) {
    if (line === 'ip-batch-done') break
    const m = /^Command failed .*:(\d+)$/.exec(line)
    if (m) {
      failed.set(Number(m[1]), messages.join(' ').slice(0, 160))
      messages = []
    } else if (line.trim()) messages.push(line.trim())
  }
  BATCH_LINES.forEach(({ feature }, i) => {
    if (feature) verdicts.set(`feature:${feature}`, failed.has(i + 1) ? failed.get(i + 1) || 'failed' : 'ok')
  })
  return verdicts
}

export function parseProbe(host: string, output: string): Capabilities {
  const lines = output.split('\n')
  const values = batchVerdicts(lines.filter((l) => l.startsWith('ip-batch')).map((l) => l.replace(/^ip-batch:/, '')))
  for (const line of lines) {
    if (line.startsWith('ip-batch')) continue
    const eq = line.indexOf('=')
    if (eq > 0) values.set(line.slice(0, eq), line.slice(eq + 1).trim())
  }
  const probeFailed = values.get('probe-failed')
  const features = {} as Record<KernelFeature, true | string>
  for (const f of KERNEL_FEATURES) {
    const v = values.get(`feature:${f}`)
    features[f] = v === 'ok' ? true : v || (probeFailed ? `not probed: ${probeFailed}` : 'not probed')
  }
  const tools = {} as Record<Tool, boolean>
  for (const t of TOOLS) tools[t] = values.get(`tool:${t}`) === '1'
  const versions = {
    iproute2: values.get('version:iproute2') || 'unknown',
    iptables: values.get('version:iptables') || 'none',
  }
  return { host, kernelRelease: values.get('release') ?? 'unknown', distro: values.get('distro') ?? 'unknown', features, tools, versions }
}

/** The file this probe's code is in (as run or as built): what keeps its answers, the qemu
 *  backend's saved pairs, is keyed by that file's content. */
export const CAPABILITIES_MODULE = import.meta.url

export async function probeCapabilities(host: Host): Promise<Capabilities> {
  // Each trial may load a module: a VM under TCG on a loaded machine took over 20 s for them all,
  // and a probe cut short is no evidence that a feature is missing: it says so instead.
  const r = await host.exec(probeScript(), { timeoutMs: 180_000 })
  return parseProbe(host.name, r.timedOut ? `${r.stdout}\nprobe-failed=the probe did not finish within 180 s` : r.stdout)
}
