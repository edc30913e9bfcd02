// A root file system of its own for every netns node (host, gateway, internet), made in the
// node's mount namespace before anything of the lab runs in it:
// - `/`: an overlay of the machine's root file system with a throw-away upper layer on a tmpfs
//   of NODE_DISK_MB, so whatever a lab writes (`/etc`, `/tmp`, `/var`, `/usr/local`, a package
//   it installs) stays in that node and is gone with it; filling it fills only that tmpfs.
// - `/root` and `/home`: empty (the machine's keys and histories are not a lab's to read); so are
//   the container engines' state folders where the machine has them.
// - `/dev`: only what labs use (null zero full random urandom tty, ptmx with a devpts instance of
//   its own, net/tun, shm); no block device.
// - `/proc`: the node's PID namespace; `/proc/sys` read-only except `net.*`, which the kernel keeps
//   per network namespace. `/sys`: a sysfs of the node's network namespace, as before.
// - `/run`: a tmpfs of the node (the shell server's and captures' files live there).
// The machine reaches a node's files through `/proc/PID/root/…` of a process inside it.
//
// It is one `sh` script, run as the node's first process; the mounts are listed in fstab form
// and made by one `mount -a` (each `mount` started costs a fork and an exec).
import { existsSync, readFileSync, readlinkSync } from 'node:fs'

/** How much a node may write in total (its overlay's upper layer, /root, /home, /tmp…), MiB. */
export const NODE_DISK_MB = Number(process.env.LABPROOF_NETNS_DISK_MB) || 512
const RUN_MB = 128
const SHM_MB = 64
/** Each of the HIDDEN_DIRS is an empty tmpfs of this size. */
const HIDDEN_MB = 64

/** Folders of the machine a node sees empty, where the machine has them. */
export const HIDDEN_DIRS = ['/root', '/home', '/var/lib/docker', '/var/lib/containerd', '/var/lib/libvirt']

/** Folders of the system that some machines mount apart from `/` (a separate /usr or /var):
 *  each gets an overlay of its own, else the node would see the empty folder under the mount. */
const SYSTEM_DIRS = ['/usr', '/var', '/opt', '/etc', '/lib', '/lib64', '/bin', '/sbin', '/srv']

/** The SYSTEM_DIRS this machine mounts apart from `/`. */
export function separateSystemMounts(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const points = new Set(mountinfo.split('\n').map((l) => l.split(' ')[4]).filter(Boolean).map((p) => p!.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))))
  return SYSTEM_DIRS.filter((d) => points.has(d))
}

/** The device nodes copied (as nodes, `cp -a`) from the machine's /dev. */
export const NODE_DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'net']
const DEV_LINKS: [string, string][] = [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2']]

/** The links the machine's /dev has as they should be are copied with the nodes (one process);
 *  the others are made. */
function devLinks(): { copied: string[]; made: [string, string][] } {
  const same = ([name, to]: [string, string]) => {
    try {
      return readlinkSync(`/dev/${name}`) === to
    } catch {
      return false
    }
  }
  return { copied: DEV_LINKS.filter(same).map(([name]) => name), made: DEV_LINKS.filter((l) => !same(l)) }
}

/** Capabilities no lab needs and a write-up could use on the machine itself: loading kernel
 *  modules, raw I/O and device nodes, rebooting, immutable flags, the kernel log, MAC policy,
 *  audit, process accounting. Dropped from every command run in a node (setpriv). */
export const DROPPED_CAPABILITIES = [
  'sys_module', 'sys_rawio', 'mknod', 'sys_boot', 'linux_immutable', 'syslog', 'mac_admin', 'mac_override',
  'audit_control', 'sys_pacct', 'sys_tty_config', 'wake_alarm', 'block_suspend',
]

/** `setpriv …` to put in front of a command entering a node, so it runs without them. */
export function dropCapabilities(): string[] {
  return ['setpriv', `--bounding-set=${DROPPED_CAPABILITIES.map((c) => `-${c}`).join(',')}`, '--']
}

/** Staging: the node's disk, mounted over the machine's /run in the node's (private) mount
 *  namespace; the new root and its /dev are assembled under it, then the root becomes `/` by
 *  pivot_root. */
const DISK = '/run'
const NEW = `${DISK}/root`

function fstab(hidden: string[], separate: string[]): string {
  return [
    `labproof-root ${NEW} overlay lowerdir=/,upperdir=${DISK}/upper,workdir=${DISK}/work 0 0`,
    ...separate.map((d, i) => `labproof-root ${NEW}${d} overlay lowerdir=${d},upperdir=${DISK}/upper${i},workdir=${DISK}/work${i} 0 0`),
    `proc ${NEW}/proc proc nosuid,nodev,noexec 0 0`,
    // /proc/sys read-only, except its net/ directory (per network namespace) made writable on top.
    `${NEW}/proc/sys ${NEW}/proc/sys none bind 0 0`,
    `${NEW}/proc/sys/net ${NEW}/proc/sys/net none bind 0 0`,
    `${NEW}/proc/sys ${NEW}/proc/sys none remount,bind,ro 0 0`,
    `sysfs ${NEW}/sys sysfs nosuid,nodev,noexec 0 0`,
    `${DISK}/dev ${NEW}/dev none bind,nosuid 0 0`,
    `devpts ${NEW}/dev/pts devpts newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec 0 0`,
    `labproof-shm ${NEW}/dev/shm tmpfs mode=1777,size=${SHM_MB}m,nosuid,nodev 0 0`,
    `labproof-run ${NEW}/run tmpfs mode=0755,size=${RUN_MB}m,nosuid,nodev 0 0`,
    ...hidden.map((d) => `labproof-empty ${NEW}${d} tmpfs mode=${d === '/root' ? '0700' : '0755'},size=${HIDDEN_MB}m 0 0`),
  ].join('\n')
}

/** The node's first process: `sh -c NODE_INIT MARKER HOSTNAME`. Builds the root, names the host,
 *  prints `ready`, then reaps whatever commands leave behind until the node is killed. Every
 *  value in it is a constant of this file or the machine's existing folders (`"$1"` is quoted). */
export function nodeInitScript(hidden = HIDDEN_DIRS.filter((d) => existsSync(d)), links = devLinks(), separate = separateSystemMounts()): string {
  return [
    'set -e',
    // Six processes in all (mount, mkdir, cp, mount -a, pivot_root, umount): the rest are builtins.
    `mount -t tmpfs -o mode=0755,size=${NODE_DISK_MB}m labproof-disk ${DISK}`,
    `mkdir ${DISK}/upper ${DISK}/work ${NEW} ${DISK}/dev ${DISK}/dev/pts ${DISK}/dev/shm${separate.map((_, i) => ` ${DISK}/upper${i} ${DISK}/work${i}`).join('')}`,
    `cp -a ${[...NODE_DEVICES, ...links.copied].map((d) => `/dev/${d}`).join(' ')} ${DISK}/dev/`,
    ...links.made.map(([name, to]) => `ln -s ${to} ${DISK}/dev/${name}`),
    `printf '%s\\n' '${fstab(hidden, separate)}' > ${DISK}/fstab`,
    `mount -a -T ${DISK}/fstab`,
    `cd ${NEW}`,
    // The node's UTS namespace: what `hostname "$1"` would do, without starting it.
    'printf "%s" "$1" > /proc/sys/kernel/hostname',
    // A real host names itself in /etc/hostname and resolves its own name from /etc/hosts
    // (Debian writes `127.0.1.1 NAME`); without it, sudo asks DNS, whose queries die at the
    // gateway: 10 s per sudo. Both are this node's own files now.
    'printf "%s\\n" "$1" > etc/hostname',
    'printf "\\n127.0.1.1\\t%s\\n" "$1" >> etc/hosts',
    // `pivot_root . .` then detaching `.`: the machine's tree is no longer reachable from here.
    'pivot_root . .',
    'umount -l .',
    'cd /',
    // `ip link set lo up`, through the node's sysfs: IFF_UP | IFF_LOOPBACK.
    'printf 0x9 > /sys/class/net/lo/flags',
    'echo ready',
    'exec sh -c "while :; do sleep 3600 & wait; done"',
  ].join('\n')
}
