// The Vagrant box labproof builds for the libvirt provider when no box is given (no Vagrant
// Cloud needed): the qemu backend's Debian bookworm image (debootstrap rootfs, lab tools, sshd,
// a Debian cloud kernel's modules), made into a libvirt box — metadata.json, a Vagrantfile and
// box.img (qcow2) — plus the kernel and a small initramfs, because the disk has no boot loader
// and the cloud kernel's virtio_blk is a module: libvirt boots the kernel directly, the
// initramfs loads virtio_blk and switches to the disk.
//
// Like the qemu backend's guests it runs no systemd: its PID 1 names the NICs, runs udhcpc and
// sshd in a network namespace of their own holding the management NIC (so the lab's namespace
// sees only lo and its underlay), and reaps. Built once per recipe and cached; no loop mount.
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { basename, join } from 'node:path'
import { shellQuote } from '../../host.ts'
import { runProcess } from '../../local-process.ts'
import { buildInitramfs, initramfsInit, INITRAMFS_MODULES } from '../shared/vm-initramfs.ts'
import { DEFAULT_VM_KERNEL, ensureVmImage, GUEST_INIT_DEVICES, GUEST_INIT_MOUNTS, guestSshdConfig } from '../shared/vm-image.ts'
import { withBuildLock } from '../../build-lock.ts'

/** Where libvirt's qemu (which runs as an unprivileged user) may read a kernel and initrd. */
export const LIBVIRT_BOOT_DIR = '/var/lib/libvirt/boot'
export const BOX_NAME_PREFIX = 'labproof/bookworm'

/** Where the box's init (below) lives on its disk. */
const BOX_INIT_PATH = '/sbin/labproof-vagrant-init'

// PID 1 of the box, after the initramfs has mounted the disk. With net.ifnames=0 the first
// virtio NIC, on the lowest PCI slot, is eth0: vagrant-libvirt's management NIC.
const BOX_INIT = `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
${GUEST_INIT_MOUNTS}hostname -F /etc/hostname 2>/dev/null || hostname labproof
${GUEST_INIT_DEVICES}i=0
until [ -e /sys/class/net/eth0 ]; do
  i=$((i + 1)); [ $i -gt 100 ] && { say "no management NIC (eth0)"; exit 1; }
  sleep 0.1
done
ip link set eth0 name mgmt0
mkdir -p /run/sshd && chmod 0755 /run/sshd
mkfifo /run/labproof-mgmt-go
# The management namespace: DHCP from libvirt (vagrant-libvirt finds the VM by its lease; under
# TCG a reply can come late, so udhcpc is run again until it has one) and sshd. Nothing of the
# lab can route through it.
unshare --net sh -c 'read go < /run/labproof-mgmt-go
  ip link set lo up && ip link set mgmt0 up || exit 1
  until /usr/local/bin/busybox udhcpc -i mgmt0 -s /usr/local/lib/labproof/udhcpc.script -t 10 -T 2 -A 1 -n; do sleep 1; done
  exec /usr/sbin/sshd -D -e' &
sshd_pid=$!
while [ "$(readlink /proc/$sshd_pid/ns/net)" = "$(readlink /proc/1/ns/net)" ]; do sleep 0.02; done
ip link set mgmt0 netns $sshd_pid || exit 1
echo go > /run/labproof-mgmt-go
say "booted $(uname -r)"
while :; do sleep 3600 & wait; done
`

const UDHCPC_SCRIPT = `#!/bin/sh
# busybox udhcpc: give the management NIC the address libvirt's DHCP server leased.
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew) ip addr replace "$ip/$subnet" dev "$interface" ;;
esac
`

const SSHD_CONFIG = guestSshdConfig('labproof box')

const KERNEL_CMDLINE = 'console=ttyS0 root=/dev/vda rw panic=-1 quiet net.ifnames=0 random.trust_cpu=on no_timer_check'

function boxVagrantfile(hash: string, kernelRelease: string): string {
  return `# labproof's local box for the libvirt provider: Debian bookworm, kernel ${kernelRelease}, no systemd.
# Built by labproof (harness/backends/vagrant/vagrant-box.ts). The disk has no boot loader: libvirt boots
# the kernel and initramfs directly, from where its qemu (an unprivileged user) may read them.
require "fileutils"
box_dir = File.dirname(__FILE__)
kernel = "${LIBVIRT_BOOT_DIR}/labproof-${hash}-vmlinuz"
initrd = "${LIBVIRT_BOOT_DIR}/labproof-${hash}-initrd.img"
[["vmlinuz", kernel], ["initrd.img", initrd]].each do |file, dest|
  next if File.exist?(dest)
  begin
    FileUtils.mkdir_p(File.dirname(dest))
    FileUtils.cp(File.join(box_dir, file), dest)
    File.chmod(0644, dest)
  rescue SystemCallError => e
    raise "labproof box: cannot copy #{file} to #{dest} (#{e.message}); copy it there as root"
  end
end

Vagrant.configure("2") do |config|
  config.vm.guest = :debian
  config.vm.box_check_update = false
  config.vm.synced_folder ".", "/vagrant", disabled: true
  # Root by the box's own key: no sudo in the box, and no key to insert.
  config.ssh.username = "root"
  config.ssh.private_key_path = File.join(box_dir, "labproof_key")
  config.ssh.insert_key = false
  config.ssh.sudo_command = "%c"
  config.ssh.shell = "sh"
  config.vm.provider :libvirt do |libvirt|
    libvirt.kernel = kernel
    libvirt.initrd = initrd
    libvirt.cmd_line = "${KERNEL_CMDLINE}"
    libvirt.memory = 512
    libvirt.cpus = 1
    libvirt.graphics_type = "none"
    libvirt.video_type = "none"
  end
end
`
}

/** What decides the box's content, besides the VM image it starts from. */
const RECIPE = {
  version: 1,
  init: BOX_INIT,
  udhcpc: UDHCPC_SCRIPT,
  initramfs: initramfsInit(BOX_INIT_PATH),
  initramfsModules: INITRAMFS_MODULES,
  sshd: SSHD_CONFIG,
  cmdline: KERNEL_CMDLINE,
  vagrantfile: boxVagrantfile('HASH', 'RELEASE'),
  busybox: 'busybox-static',
}

export interface VagrantBox {
  /** The name it is added under: `labproof/bookworm-<recipe hash>`. */
  name: string
  /** The box file (`vagrant box add` takes it). */
  file: string
  dir: string
  kernelRelease: string
  /** The host key every VM of this box presents. */
  hostKeySha256: string
  buildMs: number
}

interface BoxManifest {
  name: string
  recipeHash: string
  vmImage: string
  kernelRelease: string
  hostKeySha256: string
  buildMs: number
  builtAt: string
}

export function vagrantCacheRoot(): string {
  return join(process.env.LABPROOF_CACHE ?? join(homedir(), '.cache', 'labproof'), 'vagrant')
}

function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 12)
}

function progress(line: string): void {
  process.stderr.write(`[labproof vagrant-box] ${line}\n`)
}

async function run(what: string, file: string, args: string[], timeoutMs = 600_000): Promise<string> {
  const r = await runProcess(file, args, { timeoutMs })
  if (r.exitCode !== 0) {
    const tail = (r.stderr + r.stdout).trim().split('\n').slice(-25).join('\n')
    throw new Error(`building the Vagrant box: ${what} failed (exit ${r.exitCode}${r.timedOut ? ', timed out' : ''}):\n$ ${[file, ...args].map(shellQuote).join(' ')}\n${tail}`)
  }
  return r.stdout
}

/** The cached box for the default VM image, built first when its recipe has none yet. */
export async function ensureVagrantBox(): Promise<VagrantBox> {
  const image = await ensureVmImage(DEFAULT_VM_KERNEL)
  const hash = hashOf({ recipe: RECIPE, vmImage: basename(image.dir), kernel: image.kernelRelease })
  const dir = join(vagrantCacheRoot(), hash)
  const cached = await readBox(dir)
  if (cached) return cached
  await mkdir(vagrantCacheRoot(), { recursive: true })
  return withBuildLock(`${dir}.lock`, progress, async () => (await readBox(dir)) ?? buildBox(dir, hash, image))
}

async function readBox(dir: string): Promise<VagrantBox | undefined> {
  try {
    const m = JSON.parse(await readFile(join(dir, 'box.json'), 'utf8')) as BoxManifest
    const file = join(dir, 'labproof-bookworm.box')
    if (!existsSync(file)) return undefined
    return { name: m.name, file, dir, kernelRelease: m.kernelRelease, hostKeySha256: m.hostKeySha256, buildMs: m.buildMs }
  } catch {
    return undefined
  }
}

async function buildBox(dir: string, hash: string, image: Awaited<ReturnType<typeof ensureVmImage>>): Promise<VagrantBox> {
  if (process.getuid?.() !== 0) throw new Error('building the Vagrant box needs root (debugfs, mkfs.ext4 -d with root-owned files)')
  for (const [tool, pkg] of [['debugfs', 'e2fsprogs'], ['mkfs.ext4', 'e2fsprogs'], ['qemu-img', 'qemu-utils'], ['ssh-keygen', 'openssh-client'], ['apt-get', 'apt'], ['dpkg-deb', 'dpkg'], ['tar', 'tar']]) {
    const r = await runProcess('sh', ['-c', `command -v ${tool}`], { timeoutMs: 5000 })
    if (r.exitCode !== 0) throw new Error(`building the Vagrant box needs ${tool}: apt-get install ${pkg}`)
  }
  const started = performance.now()
  const work = `${dir}.tmp-${process.pid}`
  await rm(work, { recursive: true, force: true })
  await mkdir(work, { recursive: true })
  try {
    const rootfs = join(work, 'rootfs')
    await mkdir(rootfs)
    progress(`unpacking the VM image ${image.dir} (debugfs rdump, no loop mount)`)
    await run('debugfs rdump', 'debugfs', ['-R', `rdump / ${rootfs}`, image.rootfs])
    await restoreSpecialModes(image.rootfs, rootfs)
    const busybox = await fetchStaticBusybox(work)
    const hostKeySha256 = await customize(rootfs, busybox, work)
    progress('making the initramfs (virtio_blk, busybox)')
    await writeFile(join(work, 'initrd.img'), await buildInitramfs(join(rootfs, 'usr/lib/modules', image.kernelRelease), busybox, BOX_INIT_PATH))
    await copyFile(image.vmlinuz, join(work, 'vmlinuz'))
    progress('making box.img (mkfs.ext4 -d, qemu-img convert)')
    const sizeMb = Math.ceil((await duBytes(rootfs)) / 1e6 * 1.3) + 512
    await run('mkfs.ext4', 'mkfs.ext4', ['-q', '-F', '-L', 'labproof-root', '-d', rootfs, join(work, 'root.ext4'), `${sizeMb}M`])
    await rm(rootfs, { recursive: true, force: true })
    await run('qemu-img convert', 'qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', join(work, 'root.ext4'), join(work, 'box.img')])
    await rm(join(work, 'root.ext4'))
    const virtualGb = Math.ceil(sizeMb / 1024)
    await writeFile(join(work, 'metadata.json'), `${JSON.stringify({ provider: 'libvirt', format: 'qcow2', virtual_size: virtualGb })}\n`)
    await writeFile(join(work, 'Vagrantfile'), boxVagrantfile(hash, image.kernelRelease))
    await rm(busybox)
    progress('packing the box')
    await run('tar the box', 'tar', ['-C', work, '-cf', join(work, 'labproof-bookworm.box'),
      'metadata.json', 'Vagrantfile', 'box.img', 'vmlinuz', 'initrd.img', 'labproof_key', 'labproof_key.pub'])
    for (const f of ['metadata.json', 'Vagrantfile', 'box.img']) await rm(join(work, f))
    const buildMs = Math.round(performance.now() - started)
    const manifest: BoxManifest = {
      name: `${BOX_NAME_PREFIX}-${hash}`, recipeHash: hash, vmImage: image.dir, kernelRelease: image.kernelRelease,
      hostKeySha256, buildMs, builtAt: new Date().toISOString(),
    }
    await writeFile(join(work, 'box.json'), `${JSON.stringify(manifest, null, 2)}\n`)
    await rm(dir, { recursive: true, force: true })
    await rename(work, dir)
    await removeOtherRecipes(hash)
    progress(`built ${join(dir, 'labproof-bookworm.box')} in ${(buildMs / 1000).toFixed(1)} s`)
    return (await readBox(dir))!
  } catch (e) {
    await rm(work, { recursive: true, force: true })
    throw e
  }
}

/** rdump chowns after chmod, which clears set-user/group-ID bits: put them back from the image. */
async function restoreSpecialModes(ext4: string, rootfs: string): Promise<void> {
  const dirs = (await run('find', 'find', [rootfs, '-type', 'd', '-printf', '/%P\\n'])).split('\n').filter(Boolean)
  const commands = join(rootfs, '..', 'debugfs-ls.txt')
  await writeFile(commands, dirs.map((d) => `ls -p "${d}"`).join('\n') + '\n')
  const listing = await run('debugfs ls', 'debugfs', ['-f', commands, ext4])
  await rm(commands)
  let current = '/'
  for (const line of listing.split('\n')) {
    const cmd = /^debugfs: ls -p "(.*)"$/.exec(line)
    if (cmd) {
      current = cmd[1]!
      continue
    }
    const entry = /^\/\d+\/(\d+)\/\d+\/\d+\/([^/]+)\//.exec(line)
    if (!entry) continue
    const mode = parseInt(entry[1]!, 8)
    if ((mode & 0o170000) === 0o100000 && mode & 0o6000) await chmod(join(rootfs, current, entry[2]!), mode & 0o7777)
  }
}

/** A statically linked busybox (udhcpc, and the initramfs's shell): any distro's package does. */
async function fetchStaticBusybox(work: string): Promise<string> {
  const debs = join(work, 'debs')
  await mkdir(debs)
  const download = `cd ${shellQuote(debs)} && apt-get download -q busybox-static`
  let r = await runProcess('sh', ['-c', download], { timeoutMs: 300_000 })
  if (r.exitCode !== 0) {
    // A fresh machine may have no package lists yet.
    await runProcess('apt-get', ['update', '-qq'], { timeoutMs: 300_000 })
    r = await runProcess('sh', ['-c', download], { timeoutMs: 300_000 })
  }
  const deb = (await readdir(debs)).find((f) => f.endsWith('.deb'))
  if (r.exitCode !== 0 || !deb) {
    throw new Error(`building the Vagrant box: apt-get download busybox-static failed, after an apt-get update too:\n${r.stderr.trim()}`)
  }
  await run('dpkg-deb -x busybox-static', 'dpkg-deb', ['-x', join(debs, deb), join(debs, 'x')])
  const binary = [join(debs, 'x/bin/busybox'), join(debs, 'x/usr/bin/busybox')].find((p) => existsSync(p))
  if (!binary) throw new Error(`building the Vagrant box: ${deb} has no busybox binary`)
  const out = join(work, 'busybox')
  await copyFile(binary, out)
  await chmod(out, 0o755)
  await rm(debs, { recursive: true, force: true })
  return out
}

/** The box's init, DHCP, sshd and keys; returns the host key's fingerprint. */
async function customize(rootfs: string, busybox: string, work: string): Promise<string> {
  await writeFile(join(rootfs, BOX_INIT_PATH.slice(1)), BOX_INIT, { mode: 0o755 })
  await mkdir(join(rootfs, 'usr/local/lib/labproof'), { recursive: true })
  await writeFile(join(rootfs, 'usr/local/lib/labproof/udhcpc.script'), UDHCPC_SCRIPT, { mode: 0o755 })
  await copyFile(busybox, join(rootfs, 'usr/local/bin/busybox'))
  await chmod(join(rootfs, 'usr/local/bin/busybox'), 0o755)
  await writeFile(join(rootfs, 'etc/ssh/sshd_config.d/labproof.conf'), SSHD_CONFIG)
  await writeFile(join(rootfs, 'etc/hostname'), 'labproof\n')
  // The VM image's keys are the qemu backend's: this box gets its own.
  for (const f of await readdir(join(rootfs, 'etc/ssh'))) {
    if (f.startsWith('ssh_host_')) await rm(join(rootfs, 'etc/ssh', f))
  }
  const hostKey = join(rootfs, 'etc/ssh/ssh_host_ed25519_key')
  await run('ssh-keygen (host key)', 'ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'labproof-vagrant-host', '-f', hostKey])
  const clientKey = join(work, 'labproof_key')
  await run('ssh-keygen (client key)', 'ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'labproof-vagrant-client', '-f', clientKey])
  await chmod(clientKey, 0o600)
  await mkdir(join(rootfs, 'root/.ssh'), { recursive: true })
  await chmod(join(rootfs, 'root/.ssh'), 0o700)
  await copyFile(`${clientKey}.pub`, join(rootfs, 'root/.ssh/authorized_keys'))
  await chmod(join(rootfs, 'root/.ssh/authorized_keys'), 0o600)
  const fp = (await run('ssh-keygen -l', 'ssh-keygen', ['-l', '-E', 'sha256', '-f', `${hostKey}.pub`])).split(/\s+/)[1]
  if (!fp?.startsWith('SHA256:')) throw new Error(`building the Vagrant box: cannot read the host key fingerprint of ${hostKey}.pub`)
  return fp
}

async function duBytes(path: string): Promise<number> {
  return Number((await run('du', 'du', ['-sb', path])).split(/\s+/)[0])
}

/** Boxes of earlier recipes are never used again: drop their cache entries. */
async function removeOtherRecipes(hash: string): Promise<void> {
  for (const e of await readdir(vagrantCacheRoot()).catch(() => [] as string[])) {
    if (e !== hash && /^[0-9a-f]{12}$/.test(e)) {
      await rm(join(vagrantCacheRoot(), e), { recursive: true, force: true })
      progress(`removed ${join(vagrantCacheRoot(), e)}, a box of an earlier recipe`)
    }
  }
}

/** The box's boot files where libvirt's qemu can read them (the box's Vagrantfile copies them
 *  too, but only when vagrant runs as root). */
export async function installBootFiles(box: VagrantBox): Promise<void> {
  const hash = basename(box.dir)
  for (const f of await readdir(LIBVIRT_BOOT_DIR).catch(() => [] as string[])) {
    if (/^labproof-[0-9a-f]{12}-(vmlinuz|initrd\.img)$/.test(f) && !f.startsWith(`labproof-${hash}-`)) await rm(join(LIBVIRT_BOOT_DIR, f), { force: true })
  }
  for (const [file, dest] of [['vmlinuz', `labproof-${hash}-vmlinuz`], ['initrd.img', `labproof-${hash}-initrd.img`]] as const) {
    const target = join(LIBVIRT_BOOT_DIR, dest)
    if (existsSync(target) && (await stat(target)).size === (await stat(join(box.dir, file))).size) continue
    await mkdir(LIBVIRT_BOOT_DIR, { recursive: true })
    await copyFile(join(box.dir, file), `${target}.part`)
    await chmod(`${target}.part`, 0o644)
    await rename(`${target}.part`, target)
  }
}
