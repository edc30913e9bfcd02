// Probe a host's kernel features by trying them, in a scratch network namespace so the host is
// left exactly as it was, and list the tools it has. One shell round trip per host.
import { KERNEL_FEATURES, TOOLS, type Capabilities, type Host, type KernelFeature, type Tool } from './host.ts'

const FEATURE_TRIALS: Record<KernelFeature, string> = {
  veth: 'ip link add lp-veth0 type veth peer name lp-veth1',
  bridge: 'ip link add lp-br type bridge',
  vxlan: 'ip link add lp-vxlan type vxlan id 42 dstport 4789',
  macvlan: 'ip link add lp-eth0 type veth peer name lp-eth1 2>/dev/null; ip link add link lp-eth0 name lp-macvlan type macvlan',
  ipvlan: 'ip link add lp-eth2 type veth peer name lp-eth3 2>/dev/null; ip link add link lp-eth2 name lp-ipvlan type ipvlan',
  ipip: 'ip link add lp-ipip type ipip local 192.0.2.1 remote 192.0.2.2',
  gre: 'ip link add lp-gre type gre local 192.0.2.1 remote 192.0.2.2',
  sit: 'ip link add lp-sit type sit local 192.0.2.1 remote 192.0.2.2',
  dummy: 'ip link add lp-dummy type dummy',
  vlan: 'ip link add lp-eth4 type veth peer name lp-eth5 2>/dev/null; ip link add link lp-eth4 name lp-vlan type vlan id 5',
  tun: 'ip tuntap add lp-tun mode tun',
  nf_nat: 'iptables -t nat -A POSTROUTING -s 192.0.2.0/24 -j MASQUERADE',
  // In a scratch mount namespace, as the cgroup v1 examples do it: mount the freezer hierarchy
  // and make (and remove) a cgroup, named after a mktemp directory so concurrent probes differ.
  timens: 'unshare -fT --boottime 1 true',
  cgroup1_freezer: 'd=$(mktemp -d) && unshare -m sh -c "mount -t cgroup -o freezer labproof-probe $d && mkdir $d/lp-${d##*/} && rmdir $d/lp-${d##*/}"; r=$?; rmdir "$d"; [ $r = 0 ]',
}

export function probeScript(): string {
  // Shell builtins wherever they do: on a loaded machine each process costs 10-30 ms.
  const tools = TOOLS.map((t) => `command -v ${t} >/dev/null 2>&1 && echo tool:${t}=1 || echo tool:${t}=0`)
  // Each trial is a background job of its own (they make differently named links, so they
  // cannot meet), its error folded onto one line of at most 160 characters by builtins
  // (printf's precision) instead of a tr and a cut per missing feature.
  const trials = KERNEL_FEATURES.map(
    (f) => `{ if out=$( { ${FEATURE_TRIALS[f]}; } 2>&1); then echo feature:${f}=ok; else set -f; IFS='\n'; set -- $out; IFS=' '; printf 'feature:${f}=%.160s\\n' "$*"; fi; } &`,
  )
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

export function parseProbe(host: string, output: string): Capabilities {
  const values = new Map<string, string>()
  for (const line of output.split('\n')) {
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

export async function probeCapabilities(host: Host): Promise<Capabilities> {
  // Each trial may load a module: a VM under TCG on a loaded machine took over 20 s for them all,
  // and a probe cut short is no evidence that a feature is missing: it says so instead.
  const r = await host.exec(probeScript(), { timeoutMs: 180_000 })
  return parseProbe(host.name, r.timedOut ? `${r.stdout}\nprobe-failed=the probe did not finish within 180 s` : r.stdout)
}
