// The VM disk image the qemu backend boots: a Debian bookworm rootfs (debootstrap minbase with
// the lab tools and sshd) plus one Debian cloud kernel and its modules, built once per kernel
// and recipe and cached. qemu boots the kernel directly with a small initramfs
// (vm-initramfs.ts) that loads virtio_blk for the root disk: the cloud kernels build in only
// NVMe, which qemu cannot save. Every other driver (virtio_net, ipip, …) is a module the guest
// loads on demand.
//
// No loop mounts: the image is made with `mkfs.ext4 -d rootfs`. The kernel packages come from
// the Debian mirror through a private apt configuration per suite, never the machine's own.
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, copyFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { runProcess } from '../../local-process.ts'
import { shellQuote } from '../../host.ts'
import { withBuildLock } from '../../build-lock.ts'
import { buildInitramfs, initramfsInit, INITRAMFS_MODULES } from './vm-initramfs.ts'

/** Kernel series labproof can boot, and the Debian suite whose cloud kernel provides it. */
export const VM_KERNELS = {
  '5.10': 'bullseye',
  '6.1': 'bookworm',
  '6.12': 'trixie',
} as const
export type VmKernel = keyof typeof VM_KERNELS
export const DEFAULT_VM_KERNEL: VmKernel = '6.1'

const ROOTFS_SUITE = 'bookworm'
const ROOTFS_PACKAGES = [
  'iproute2', 'iputils-ping', 'iptables', 'net-tools', 'bridge-utils', 'tcpdump', 'procps', 'kmod', 'openssh-server',
  // The documents run some commands through sudo, as a real host's user would.
  'sudo',
]

/** Interface name the guest gives its management NIC; it lives in its own network namespace. */
export const MANAGEMENT_INTERFACE = 'mgmt0'
/** The guest's address on qemu's user network (slirp's default guest address). */
export const MANAGEMENT_GUEST_ADDRESS = '10.0.2.15/24'
/** Printed on the serial console once sshd is up. */
export const GUEST_READY_MARKER = 'labproof-guest-ready'

/** The shell command that names a guest `name` (a shell word): the kernel's host name,
 *  /etc/hostname, and /etc/hosts resolving it to 127.0.1.1 as Debian's installer writes it. A
 *  real host resolves its own name from its files; without it sudo and the like wait for DNS
 *  queries that never get an answer (20 s a `sudo` in a lab namespace whose default route
 *  leads away from lo). */
export function guestNameCommand(name: string): string {
  return `echo ${name} > /proc/sys/kernel/hostname && echo ${name} > /etc/hostname && ` +
    `printf '127.0.0.1 localhost\\n127.0.1.1 %s\\n::1 localhost ip6-localhost ip6-loopback\\n' ${name} > /etc/hosts`
}

/** The start of a guest's own init (no systemd): console, the kernel's file systems, tmpfs
 *  /run and /tmp. Shared with the Vagrant box's init. */
export const GUEST_INIT_MOUNTS = `exec </dev/null >/dev/console 2>&1
say() { echo "labproof-init: $*"; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -o remount,rw /
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=000 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
`

/** Next in a guest's init: lo up, the drivers of the devices present and the device nodes of
 *  modules that load on first open. Shared with the Vagrant box's init. */
export const GUEST_INIT_DEVICES = `ip link set lo up
# No udev: load the drivers of the devices present by their aliases, twice, since the virtio
# devices (the NICs) appear only once virtio_pci has bound the PCI functions.
coldplug() { cat /sys/bus/pci/devices/*/modalias /sys/bus/virtio/devices/*/modalias 2>/dev/null | sort -u | xargs modprobe -qab 2>/dev/null; }
coldplug; coldplug
# Device nodes whose modules load on first open (/dev/net/tun), as systemd-tmpfiles would make.
while read -r module dev spec; do
  case "$module" in '#'*|'') continue ;; esac
  nums=\${spec#?}
  case "$dev" in */*) mkdir -p "/dev/\${dev%/*}" ;; esac
  [ -e "/dev/$dev" ] || mknod -m 0666 "/dev/$dev" "\${spec%"$nums"}" "\${nums%:*}" "\${nums#*:}"
done < /lib/modules/$(uname -r)/modules.devname
`

// PID 1 of the guest. No systemd: under TCG every second of boot counts. It mounts the API
// file systems, names the NICs by the MACs qemu gave them (labproof.underlay_mac → the
// topology's interface, labproof.mgmt_mac → mgmt0), and runs sshd in a network namespace of
// its own holding mgmt0: the lab's namespace sees only lo and the underlay, as on real hosts,
// and no lab route can ever point at the management network. Commands reach the lab's
// namespace through `nsenter --net=/proc/1/ns/net`.
const GUEST_INIT = `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
${GUEST_INIT_MOUNTS}hostname_=localhost underlay_if=ens33 underlay_mac= mgmt_mac=
for word in $(cat /proc/cmdline); do
  case "$word" in
    labproof.hostname=*) hostname_=\${word#*=} ;;
    labproof.underlay_if=*) underlay_if=\${word#*=} ;;
    labproof.underlay_mac=*) underlay_mac=\${word#*=} ;;
    labproof.mgmt_mac=*) mgmt_mac=\${word#*=} ;;
  esac
done
${guestNameCommand('"$hostname_"')}
${GUEST_INIT_DEVICES}name_nic() {
  i=0
  while [ $i -lt 100 ]; do
    for dev in /sys/class/net/*; do
      if [ "$(cat $dev/address 2>/dev/null)" = "$1" ]; then
        [ "\${dev##*/}" = "$2" ] || ip link set "\${dev##*/}" name "$2"
        return 0
      fi
    done
    i=$((i + 1)); sleep 0.1
  done
  say "no NIC with MAC $1"; return 1
}
# Exiting PID 1 panics the kernel; with panic=-1 and -no-reboot qemu then exits.
name_nic "$mgmt_mac" ${MANAGEMENT_INTERFACE} || exit 1
[ -z "$underlay_mac" ] || name_nic "$underlay_mac" "$underlay_if" || exit 1
mkdir -p /run/sshd && chmod 0755 /run/sshd
mkfifo /run/labproof-mgmt-go
unshare --net sh -c 'read go < /run/labproof-mgmt-go
  ip link set lo up && ip addr add ${MANAGEMENT_GUEST_ADDRESS} dev ${MANAGEMENT_INTERFACE} && ip link set ${MANAGEMENT_INTERFACE} up || exit 1
  exec /usr/sbin/sshd -D -e' &
sshd_pid=$!
# Move the NIC only once unshare has made the new namespace (the PID is the same before and after).
while [ "$(readlink /proc/$sshd_pid/ns/net)" = "$(readlink /proc/1/ns/net)" ]; do sleep 0.02; done
ip link set ${MANAGEMENT_INTERFACE} netns $sshd_pid || exit 1
echo go > /run/labproof-mgmt-go
i=0
until nsenter --net=/proc/$sshd_pid/ns/net sh -c 'grep -q "^ *[0-9]*: [0-9A-F]*:0016 [0-9A-F:]* 0A" /proc/net/tcp /proc/net/tcp6' 2>/dev/null; do
  i=$((i + 1))
  if [ $i -gt 300 ] || ! kill -0 $sshd_pid 2>/dev/null; then say "sshd did not start"; exit 1; fi
  sleep 0.1
done
say "${GUEST_READY_MARKER} $(uname -r)"
while :; do sleep 3600 & wait; done
`

/** The guests' sshd settings (this image's and the Vagrant box's), under a first comment line
 *  of their own (each recipe keeps its text, so neither cache is rebuilt by sharing it). */
export function guestSshdConfig(heading: string): string {
  return `# ${heading}: root by key only, fast logins, many channels per connection
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
MaxSessions 64
MaxStartups 64
HostKey /etc/ssh/ssh_host_ed25519_key
`
}

const SSHD_CONFIG = guestSshdConfig('labproof')

/** What decides the image's content; a change here means a new cache entry. */
/** The guest's PID 1 on its disk, where the initramfs hands over. */
export const GUEST_INIT_PATH = '/sbin/labproof-init'

const RECIPE = {
  version: 1,
  initramfs: initramfsInit(GUEST_INIT_PATH),
  initramfsModules: INITRAMFS_MODULES,
  busybox: 'busybox-static',
  rootfsSuite: ROOTFS_SUITE,
  packages: ROOTFS_PACKAGES,
  init: GUEST_INIT,
  sshd: SSHD_CONFIG,
}

export interface VmImage {
  dir: string
  kernel: VmKernel
  /** `uname -r` of the guest. */
  kernelRelease: string
  kernelPackage: string
  vmlinuz: string
  /** The initramfs that loads virtio_blk and hands over to the disk's init. */
  initrd: string
  /** The ext4 root file system; read-only, runs boot qcow2 overlays of it. */
  rootfs: string
  /** The client key root accepts (0600) and the host key's pinned fingerprint. */
  privateKeyPath: string
  hostKeySha256: string
  buildMs: number
}

interface ImageManifest extends Omit<VmImage, 'dir' | 'vmlinuz' | 'initrd' | 'rootfs' | 'privateKeyPath'> {
  recipeHash: string
  builtAt: string
}

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.LABPROOF_CACHE ?? join(homedir(), '.cache', 'labproof'), 'vm')
}

export function recipeHash(): string {
  return hashOf(RECIPE)
}

/** The plain debootstrap tree depends only on the suite and the packages. */
function debootstrapHash(): string {
  return hashOf({ suite: RECIPE.rootfsSuite, packages: RECIPE.packages })
}

function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 12)
}

export function isVmKernel(k: string): k is VmKernel {
  return Object.hasOwn(VM_KERNELS, k)
}

function mirror(): string {
  return process.env.LABPROOF_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian'
}

function progress(line: string): void {
  process.stderr.write(`[labproof vm-image] ${line}\n`)
}

/** The cached image for `kernel`, built first when the recipe has none yet. */
export async function ensureVmImage(kernel: string = DEFAULT_VM_KERNEL): Promise<VmImage> {
  if (!isVmKernel(kernel)) {
    throw new Error(`the qemu backend has no kernel "${kernel}"; choose one of: ${Object.keys(VM_KERNELS).join(', ')}`)
  }
  const dir = join(cacheRoot(), `${kernel}-${recipeHash()}`)
  const cached = await readImage(dir, kernel)
  if (cached) return cached
  await mkdir(cacheRoot(), { recursive: true })
  return withBuildLock(`${dir}.lock`, progress, async () => (await readImage(dir, kernel)) ?? buildImage(dir, kernel))
}

async function readImage(dir: string, kernel: VmKernel): Promise<VmImage | undefined> {
  try {
    const m = JSON.parse(await readFile(join(dir, 'image.json'), 'utf8')) as ImageManifest
    return { ...m, dir, kernel, vmlinuz: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img'), rootfs: join(dir, 'rootfs.ext4'), privateKeyPath: join(dir, 'id_ed25519') }
  } catch {
    return undefined
  }
}

async function run(what: string, file: string, args: string[], timeoutMs = 900_000): Promise<string> {
  // A step can take minutes on a busy machine (debootstrap, the kernel download): say so.
  const started = Date.now()
  const ticker = setInterval(() => progress(`still running ${what} (${Math.round((Date.now() - started) / 1000)} s so far)`), 30_000)
  const r = await runProcess(file, args, { timeoutMs }).finally(() => clearInterval(ticker))
  if (r.exitCode !== 0) {
    const tail = (r.stderr + r.stdout).trim().split('\n').slice(-25).join('\n')
    throw new Error(`building the VM image: ${what} failed (exit ${r.exitCode}${r.timedOut ? ', timed out' : ''}):\n$ ${[file, ...args].map(shellQuote).join(' ')}\n${tail}`)
  }
  return r.stdout
}

async function buildImage(dir: string, kernel: VmKernel): Promise<VmImage> {
  if (process.getuid?.() !== 0) throw new Error('building the qemu backend\'s VM image needs root (debootstrap, chroot)')
  for (const tool of ['debootstrap', 'mkfs.ext4', 'dpkg-deb', 'apt-get', 'ssh-keygen']) {
    const r = await runProcess('sh', ['-c', `command -v ${tool}`], { timeoutMs: 5000 })
    if (r.exitCode !== 0) throw new Error(`building the VM image needs ${tool}: apt-get install debootstrap e2fsprogs openssh-client`)
  }
  const started = performance.now()
  const work = `${dir}.tmp-${process.pid}`
  await rm(work, { recursive: true, force: true })
  await mkdir(work, { recursive: true })
  try {
    const rootfs = join(work, 'rootfs')
    await unpackRootfs(rootfs)
    const { release, packageName } = await installKernel(kernel, rootfs, work)
    const hostKeySha256 = await installKeys(rootfs, work)
    progress(`making the ext4 image (mkfs.ext4 -d, no loop mount)`)
    const sizeMb = Math.ceil((await duBytes(rootfs)) / 1e6 * 1.3) + 512
    await run('mkfs.ext4', 'mkfs.ext4', ['-q', '-F', '-L', 'labproof-root', '-d', rootfs, join(work, 'rootfs.ext4'), `${sizeMb}M`])
    await rm(rootfs, { recursive: true, force: true })
    await chmod(join(work, 'rootfs.ext4'), 0o444)
    const buildMs = Math.round(performance.now() - started)
    const manifest: ImageManifest = {
      kernel, kernelRelease: release, kernelPackage: packageName, hostKeySha256, buildMs,
      recipeHash: recipeHash(), builtAt: new Date().toISOString(),
    }
    await writeFile(join(work, 'image.json'), `${JSON.stringify(manifest, null, 2)}\n`)
    await rm(dir, { recursive: true, force: true })
    await rename(work, dir)
    await removeOtherRecipes(kernel)
    progress(`built ${dir} (kernel ${release}) in ${(buildMs / 1000).toFixed(1)} s`)
    return (await readImage(dir, kernel))!
  } catch (e) {
    await rm(work, { recursive: true, force: true })
    throw e
  }
}

/** The bookworm rootfs is the same for every kernel: debootstrap it once, keep a tarball. */
async function unpackRootfs(rootfs: string): Promise<void> {
  const tarball = join(cacheRoot(), `debootstrap-${ROOTFS_SUITE}-${debootstrapHash()}.tar`)
  if (!existsSync(tarball)) {
    await withBuildLock(`${tarball}.lock`, progress, async () => {
      if (existsSync(tarball)) return
      const staging = `${tarball}.d-${process.pid}`
      await rm(staging, { recursive: true, force: true })
      progress(`debootstrap --variant=minbase ${ROOTFS_SUITE} (${ROOTFS_PACKAGES.join(' ')}) from ${mirror()}`)
      const t0 = performance.now()
      try {
        await run('debootstrap', 'debootstrap', ['--variant=minbase', `--include=${ROOTFS_PACKAGES.join(',')}`, ROOTFS_SUITE, staging, mirror()])
        progress(`debootstrap done in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
        await rm(join(staging, 'var/lib/apt/lists'), { recursive: true, force: true })
        await mkdir(join(staging, 'var/lib/apt/lists/partial'), { recursive: true })
        await run('apt-get clean', 'chroot', [staging, 'apt-get', 'clean'])
        await run('tar the rootfs', 'tar', ['-C', staging, '--numeric-owner', '--xattrs', '-cf', `${tarball}.part`, '.'])
        await rename(`${tarball}.part`, tarball)
      } finally {
        await rm(staging, { recursive: true, force: true })
        await rm(`${tarball}.part`, { force: true })
      }
    })
  }
  await mkdir(rootfs, { recursive: true })
  await run('untar the rootfs', 'tar', ['-C', rootfs, '--numeric-owner', '--xattrs', '-xf', tarball])
  await customizeRootfs(rootfs)
}

async function customizeRootfs(rootfs: string): Promise<void> {
  await writeFile(join(rootfs, GUEST_INIT_PATH.slice(1)), GUEST_INIT, { mode: 0o755 })
  await writeFile(join(rootfs, 'etc/ssh/sshd_config.d/labproof.conf'), SSHD_CONFIG)
  await writeFile(join(rootfs, 'etc/resolv.conf'), '')
  // Keys are made per image; nothing of the machine that built it stays inside.
  for (const f of await readdir(join(rootfs, 'etc/ssh'))) {
    if (f.startsWith('ssh_host_')) await rm(join(rootfs, 'etc/ssh', f))
  }
}

function aptOptions(root: string): string[] {
  return [
    `-o`, `Dir::Etc::SourceList=${join(root, 'sources.list')}`, '-o', 'Dir::Etc::SourceParts=/nonexistent',
    '-o', `Dir::State::Lists=${join(root, 'lists')}`, '-o', `Dir::Cache=${join(root, 'cache')}`,
    '-o', 'Dir::State::status=/dev/null', '-o', 'APT::Architecture=amd64', '-o', 'Acquire::Languages=none',
    '-o', 'APT::Sandbox::User=root', '-o', 'Debug::NoLocking=1', '-q',
  ]
}

/** Fetch the suite's linux-image-cloud-amd64 and put its kernel beside the image, its modules inside. */
async function installKernel(kernel: VmKernel, rootfs: string, work: string): Promise<{ release: string; packageName: string }> {
  const suite = VM_KERNELS[kernel]
  const apt = join(work, 'apt')
  await mkdir(join(apt, 'lists/partial'), { recursive: true })
  await mkdir(join(apt, 'cache/archives/partial'), { recursive: true })
  const security = mirror().replace(/\/debian\/?$/, '/debian-security')
  await writeFile(join(apt, 'sources.list'), [
    `deb ${mirror()} ${suite} main`,
    `deb ${mirror()} ${suite}-updates main`,
    `deb ${security} ${suite}-security main`,
  ].join('\n') + '\n')
  progress(`apt-get update for ${suite} (private apt configuration)`)
  await run(`apt-get update (${suite})`, 'apt-get', [...aptOptions(apt), 'update'])
  const depends = await run('apt-cache depends', 'apt-cache', [...aptOptions(apt), 'depends', 'linux-image-cloud-amd64'])
  const packageName = /Depends: (linux-image-\S+-cloud-amd64)\b/.exec(depends)?.[1]
  if (!packageName) throw new Error(`building the VM image: ${suite}'s linux-image-cloud-amd64 names no kernel package:\n${depends}`)
  progress(`downloading ${packageName} (${suite})`)
  const debs = join(work, 'debs')
  await mkdir(debs, { recursive: true })
  await runInDir(debs, 'apt-get download', 'apt-get', [...aptOptions(apt), 'download', packageName])
  const deb = (await readdir(debs)).find((f) => f.endsWith('.deb'))
  if (!deb) throw new Error(`building the VM image: apt-get download ${packageName} left no .deb in ${debs}`)
  const unpacked = join(work, 'kernel')
  await run('dpkg-deb -x', 'dpkg-deb', ['-x', join(debs, deb), unpacked])
  const vmlinuz = (await readdir(join(unpacked, 'boot'))).find((f) => f.startsWith('vmlinuz-'))
  if (!vmlinuz) throw new Error(`building the VM image: ${deb} has no /boot/vmlinuz-*`)
  const release = vmlinuz.slice('vmlinuz-'.length)
  await copyFile(join(unpacked, 'boot', vmlinuz), join(work, 'vmlinuz'))
  // Older packages ship lib/modules, newer usr/lib/modules; the bookworm rootfs has merged /usr.
  const modulesFrom = [join(unpacked, 'usr/lib/modules', release), join(unpacked, 'lib/modules', release)].find((p) => existsSync(p))
  if (!modulesFrom) throw new Error(`building the VM image: ${deb} has no modules for ${release}`)
  await mkdir(join(rootfs, 'usr/lib/modules'), { recursive: true })
  await run('copy the modules', 'cp', ['-a', modulesFrom, join(rootfs, 'usr/lib/modules/')])
  await run('depmod', 'chroot', [rootfs, 'depmod', '-a', release])
  progress(`making the initramfs (${INITRAMFS_MODULES.join(', ')}; busybox-static of ${suite})`)
  await runInDir(debs, 'apt-get download busybox-static', 'apt-get', [...aptOptions(apt), 'download', 'busybox-static'])
  const busyboxDeb = (await readdir(debs)).find((f) => f.startsWith('busybox-static') && f.endsWith('.deb'))
  if (!busyboxDeb) throw new Error(`building the VM image: apt-get download busybox-static left no .deb in ${debs}`)
  await run('dpkg-deb -x busybox-static', 'dpkg-deb', ['-x', join(debs, busyboxDeb), join(work, 'busybox-static')])
  const busybox = [join(work, 'busybox-static/bin/busybox'), join(work, 'busybox-static/usr/bin/busybox')].find((p) => existsSync(p))
  if (!busybox) throw new Error(`building the VM image: ${busyboxDeb} has no busybox binary`)
  await writeFile(join(work, 'initrd.img'), await buildInitramfs(join(rootfs, 'usr/lib/modules', release), busybox, GUEST_INIT_PATH))
  await rm(join(work, 'busybox-static'), { recursive: true, force: true })
  await rm(unpacked, { recursive: true, force: true })
  await rm(apt, { recursive: true, force: true })
  await rm(debs, { recursive: true, force: true })
  progress(`kernel ${release} installed`)
  return { release, packageName }
}

async function runInDir(dir: string, what: string, file: string, args: string[]): Promise<void> {
  await run(what, 'sh', ['-c', `cd ${shellQuote(dir)} && exec "$@"`, 'sh', file, ...args])
}

/** A host key for the guest and a client key root accepts, both fresh for this image. */
async function installKeys(rootfs: string, work: string): Promise<string> {
  const hostKey = join(rootfs, 'etc/ssh/ssh_host_ed25519_key')
  await run('ssh-keygen (host key)', 'ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'labproof-vm-host', '-f', hostKey])
  const clientKey = join(work, 'id_ed25519')
  await run('ssh-keygen (client key)', 'ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'labproof-vm-client', '-f', clientKey])
  await chmod(clientKey, 0o600)
  await mkdir(join(rootfs, 'root/.ssh'), { recursive: true, mode: 0o700 })
  await chmod(join(rootfs, 'root/.ssh'), 0o700)
  await copyFile(`${clientKey}.pub`, join(rootfs, 'root/.ssh/authorized_keys'))
  await chmod(join(rootfs, 'root/.ssh/authorized_keys'), 0o600)
  await copyFile(`${hostKey}.pub`, join(work, 'ssh_host_ed25519_key.pub'))
  const fp = (await run('ssh-keygen -l', 'ssh-keygen', ['-l', '-E', 'sha256', '-f', `${hostKey}.pub`])).split(/\s+/)[1]
  if (!fp?.startsWith('SHA256:')) throw new Error(`building the VM image: cannot read the host key fingerprint of ${hostKey}.pub`)
  return fp
}

async function duBytes(path: string): Promise<number> {
  const out = await run('du', 'du', ['-sb', path])
  return Number(out.split(/\s+/)[0])
}

/** Images of this kernel from earlier recipes are never booted again: drop them. */
async function removeOtherRecipes(kernel: VmKernel): Promise<void> {
  const current = `${kernel}-${recipeHash()}`
  for (const e of await readdir(cacheRoot()).catch(() => [] as string[])) {
    if (e !== current && new RegExp(`^${kernel.replace('.', '\\.')}-[0-9a-f]{12}$`).test(e)) {
      await rm(join(cacheRoot(), e), { recursive: true, force: true })
      progress(`removed ${join(cacheRoot(), e)}, an image of an earlier recipe`)
    }
  }
}

/** Remove cached images of other recipes (what `labproof clean` may call). */
export async function pruneVmImages(): Promise<string[]> {
  const keep = recipeHash()
  const removed: string[] = []
  const entries = await readdir(cacheRoot()).catch(() => [] as string[])
  for (const e of entries) {
    if (!e.includes(keep) && !e.includes(debootstrapHash()) && !e.endsWith('.lock')) {
      const p = join(cacheRoot(), e)
      if ((await stat(p)).isDirectory() || e.endsWith('.tar')) {
        await rm(p, { recursive: true, force: true })
        removed.push(p)
      }
    }
  }
  return removed
}
