// What the escape suite compares before and after a hostile lab: this machine's own state, minus
// what other labproof runs (and the container engine they drive) make and remove meanwhile, since
// other labs may run at the same time: their docker networks, veths and bridges (`lp…`, `veth…`,
// `br-…`), the libvirt VMs' taps, their mounts under /var/lib/docker and /run/docker, their
// firewall rules (named after their bridges), and their temporary folders.
import { createHash } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { hostname } from 'node:os'
import path from 'node:path'

export interface MachineSnapshot {
  /** category → lines (sorted) */
  [category: string]: string[]
}

/** Links that are other labs' or the engine's, made and removed while the suite runs. */
const TRANSIENT_LINK = /^(veth|lp|br-|virbr|vnet|macvtap|tap|labproof)/
/** Sysctls that change on their own (counters, random values) or per transient link. */
const VOLATILE_SYSCTL = [
  /^kernel\/random\//, /^kernel\/ns_last_pid$/, /^kernel\/pty\/nr$/, /^fs\/(dentry-state|inode-nr|inode-state|file-nr|aio-nr)$/,
  /^fs\/quota\//, /^fs\/binfmt_misc\//, /^net\/netfilter\/nf_conntrack_count$/, /^kernel\/sched_domain\//,
  /^vm\/stat_refresh$/, /^kernel\/perf_event_max_sample_rate$/, /^net\/core\/netdev_rss_key$/, /^kernel\/keys\/.*$/,
]

export function snapshotMachine(): MachineSnapshot {
  return {
    'hash /etc': hashTree('/etc'),
    'hash /usr/local': hashTree('/usr/local'),
    // Other runs on this machine make and remove temporary files all the time: /tmp is compared
    // by the names a lab's write-up could leave there (the suite's markers, labproof-escape-*).
    'listing /tmp': listing('/tmp').filter((n) => /escape/.test(n)),
    'listing /root': listing('/root'),
    sysctls: sysctls(),
    mounts: mounts(),
    links: links(),
    'iptables ruleset': firewall(['iptables-save']),
    'ip6tables ruleset': firewall(['ip6tables-save']),
    'nft ruleset': firewall(['nft', 'list', 'ruleset']),
    'kernel modules': readLines('/proc/modules').map((l) => l.split(' ')[0]!),
    processes: longLivedProcesses(),
    hostname: [hostname(), readFileSync('/proc/sys/kernel/hostname', 'utf8').trim()],
  }
}

/** Every line in one snapshot and not the other, by category. */
export function diffSnapshots(before: MachineSnapshot, after: MachineSnapshot): string[] {
  const out: string[] = []
  for (const category of Object.keys(before)) {
    const a = new Set(before[category]), b = new Set(after[category] ?? [])
    for (const l of a) if (!b.has(l)) out.push(`${category}: - ${l}`)
    for (const l of b) if (!a.has(l)) out.push(`${category}: + ${l}`)
  }
  return out
}

function hashTree(root: string): string[] {
  const out: string[] = []
  const walk = (dir: string) => {
    let entries: string[]
    try {
      entries = readdirSync(dir)
    } catch {
      return
    }
    for (const name of entries) {
      const p = path.join(dir, name)
      let st
      try {
        st = lstatSync(p)
      } catch {
        continue
      }
      const mode = (st.mode & 0o7777).toString(8)
      if (st.isSymbolicLink()) out.push(`${p} -> ${readlinkSync(p)}`)
      else if (st.isDirectory()) {
        out.push(`${p}/ ${mode} ${st.uid}:${st.gid}`)
        walk(p)
      } else if (st.isFile()) {
        // Content hashed where small (all of /etc); a big file by its change time, which any
        // write moves and no one can set back (/usr/local holds hundreds of MB of programs).
        let digest = `ctime ${st.ctimeMs} size ${st.size}`
        if (st.size <= 1024 * 1024) {
          try {
            digest = createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)
          } catch { /* a file root cannot read keeps its change time */ }
        }
        out.push(`${p} ${mode} ${st.uid}:${st.gid} ${digest}`)
      } else out.push(`${p} special ${mode}`)
    }
  }
  walk(root)
  return out.sort()
}

function listing(dir: string): string[] {
  try {
    return readdirSync(dir).sort()
  } catch {
    return []
  }
}

function sysctls(): string[] {
  const out: string[] = []
  const walk = (rel: string) => {
    const dir = path.join('/proc/sys', rel)
    for (const name of listing(dir)) {
      const r = rel ? `${rel}/${name}` : name
      // Per-interface settings of another lab's link come and go with it.
      const iface = /^net\/(ipv4|ipv6)\/(conf|neigh)\/([^/]+)/.exec(r)?.[3]
      if (iface && TRANSIENT_LINK.test(iface)) continue
      if (VOLATILE_SYSCTL.some((v) => v.test(r))) continue
      let st
      try {
        st = lstatSync(path.join(dir, name))
      } catch {
        continue
      }
      if (st.isDirectory()) walk(r)
      else if (st.mode & 0o444) {
        try {
          out.push(`${r.replace(/\//g, '.')} = ${readFileSync(path.join(dir, name), 'utf8').trim().replace(/\s+/g, ' ')}`)
        } catch { /* write-only or refused on read: not a setting that can be compared */ }
      }
    }
  }
  walk('')
  return out.sort()
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean)
  } catch {
    return []
  }
}

function mounts(): string[] {
  return readLines('/proc/1/mountinfo')
    .map((l) => {
      const f = l.split(' ')
      const sep = f.indexOf('-')
      return `${f[4]} ${f[sep + 1]} ${f[sep + 2]} ${f[5]}`
    })
    .filter((m) => !/^\/(var\/lib\/docker|run\/docker|run\/netns|var\/lib\/libvirt|run\/libvirt)(\/| )/.test(m) && !/ nsfs /.test(m))
    .sort()
}

function links(): string[] {
  const r = spawnSync('ip', ['-j', 'addr', 'show'], { encoding: 'utf8' })
  const all = JSON.parse(r.stdout || '[]') as { ifname: string; flags: string[]; mtu: number; address?: string; ifalias?: string; master?: string; addr_info: { local: string; prefixlen: number }[] }[]
  return all
    .filter((l) => !TRANSIENT_LINK.test(l.ifname))
    .map((l) => `${l.ifname} ${l.flags.includes('UP') ? 'up' : 'down'} mtu ${l.mtu} ${l.address ?? ''} alias=${l.ifalias ?? ''} master=${l.master ?? ''} ${l.addr_info.map((a) => `${a.local}/${a.prefixlen}`).join(',')}`)
    .sort()
}

/** A ruleset without counters, and without other labs' rules: those naming their bridges
 *  (`lp…-u`), their comments (`labproof:`), their containers' veths, docker's own chains. */
function firewall(command: string[]): string[] {
  if (spawnSync('sh', ['-c', `command -v ${command[0]}`]).status !== 0) return [`(no ${command[0]})`]
  const r = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8' })
  return (r.stdout ?? '')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, '').replace(/counter packets \d+ bytes \d+/g, 'counter'))
    // Docker rewrites its own chains and jumps whenever a network comes or goes.
    .filter((l) => !/\blp[0-9a-z]{9}-[a-z]\b|labproof:|\bveth[0-9a-f]+\b|\bbr-[0-9a-f]{12}\b|DOCKER/.test(l))
    .sort()
}

/** The machine's init and daemons: there before, there after (by PID and command line). */
function longLivedProcesses(): string[] {
  const out: string[] = []
  for (const pid of listing('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmd: string
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ')
    } catch {
      continue
    }
    if (pid === '1' || /^(\/usr\/s?bin\/)?(dockerd|containerd|sshd|libvirtd|virtlogd|cron|rsyslogd)( |$)/.test(cmd)) out.push(`${pid} ${cmd}`)
  }
  return out.sort()
}

/** A file's flags as lsattr prints them, or why not. */
export function fileFlags(file: string): string {
  if (!existsSync(file)) return 'missing'
  const r = spawnSync('lsattr', ['-d', file], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.split(/\s+/)[0]! : `lsattr failed: ${r.stderr.trim()}`
}
