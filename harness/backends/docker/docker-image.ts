// The image every docker lab host runs, built without a registry: debootstrap a minimal Debian
// rootfs with the lab tools, then import it as an image (`docker import`). Builds are cached by
// recipe: the tag and a label carry a hash of the package list and the build script's version,
// so an image is rebuilt only when what it would contain changes.
//
// `ensureHostImage` also accepts any existing image instead of a distro: it checks the lab tools
// inside and installs the missing ones with the image's package manager, once, into a derived
// image (also cached), or fails naming what is missing.
import { createHash } from 'node:crypto'
import { request } from 'node:http'
import { mkdtemp, readdir } from 'node:fs/promises'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { getContainerRuntimeClient } from 'testcontainers'
import type Dockerode from 'dockerode'
import { runProcess } from '../../local-process.ts'
import { execInContainer, type ContainerExecResult } from './docker-exec.ts'
import { Lock } from '../../ownership/lock.ts'
import { DEFAULT_DISTRO, HOST_DISTROS, isHostDistro, type HostDistro } from './docker-options.ts'

export { DEFAULT_DISTRO, HOST_DISTROS, isHostDistro, type HostDistro }

export const HOST_IMAGE_REPOSITORY = 'labproof/host'
const PREPARED_IMAGE_REPOSITORY = 'labproof/prepared'
export const RECIPE_LABEL = 'labproof.recipe'

/** What the lab documents use, plus sshd for the grading tests; nothing more (keeps it ~110 MB). */
export const HOST_PACKAGES = [
  'iproute2', 'iputils-ping', 'iptables', 'nftables', 'net-tools', 'bridge-utils', 'tcpdump', 'procps',
  'kmod', 'ethtool', 'sudo', 'openssh-server',
] as const

/** Bump when the build steps below change what ends up in the image. */
const BUILD_SCRIPT_VERSION = 1

/** Tools a lab host must have; the package that brings each one, per package manager. */
type Packages = { apt: string; dnf: string; apk: string }
const samePackage = (name: string): Packages => ({ apt: name, dnf: name, apk: name })
const IPROUTE: Packages = { apt: 'iproute2', dnf: 'iproute', apk: 'iproute2' }
const IPTABLES: Packages = { apt: 'iptables', dnf: 'iptables-nft', apk: 'iptables' }
const REQUIRED_TOOLS: Record<string, Packages> = {
  ip: IPROUTE,
  bridge: IPROUTE,
  ping: { apt: 'iputils-ping', dnf: 'iputils', apk: 'iputils' },
  route: samePackage('net-tools'),
  ifconfig: samePackage('net-tools'),
  arp: samePackage('net-tools'),
  brctl: samePackage('bridge-utils'),
  iptables: IPTABLES,
  'iptables-save': IPTABLES,
  'iptables-restore': IPTABLES,
  tcpdump: samePackage('tcpdump'),
  sysctl: { apt: 'procps', dnf: 'procps-ng', apk: 'procps' },
  unshare: samePackage('util-linux'),
  modprobe: samePackage('kmod'),
  lsmod: samePackage('kmod'),
  timeout: samePackage('coreutils'),
  sleep: samePackage('coreutils'),
}

export type Progress = (line: string) => void
const stderrProgress: Progress = (line) => process.stderr.write(`labproof image: ${line}\n`)

export function recipeHash(distro: HostDistro): string {
  const recipe = JSON.stringify({ distro, packages: [...HOST_PACKAGES].sort(), version: BUILD_SCRIPT_VERSION })
  return createHash('sha256').update(recipe).digest('hex').slice(0, 12)
}

export function hostImageTag(distro: HostDistro): string {
  return `${HOST_IMAGE_REPOSITORY}:${distro}-${recipeHash(distro)}`
}

export async function dockerClient(): Promise<Dockerode> {
  // testcontainers falls back to /var/run/docker.sock when DOCKER_HOST does not answer: a user
  // who named an engine must get that engine or an error, never another one.
  const dockerHost = process.env.DOCKER_HOST
  const silent = dockerHost ? await pingEngine(dockerHost) : undefined
  if (silent) {
    throw new Error(`no docker engine answers at DOCKER_HOST=${dockerHost} (${silent}): start that engine, correct or unset DOCKER_HOST, or choose --backend netns`)
  }
  try {
    return (await getContainerRuntimeClient()).container.dockerode
  } catch (e) {
    throw new Error(
      `no docker engine answers (${(e as Error).message}): start one (ci/install-docker.sh installs docker.io and starts dockerd), set DOCKER_HOST, or choose --backend netns`,
    )
  }
}

/** Why the engine at `url` does not answer /_ping, or undefined when it does (or the scheme,
 *  ssh:// say, is one only the client can try). */
function pingEngine(url: string): Promise<string | undefined> {
  let target: { socketPath: string } | { host: string; port: number } | undefined
  try {
    const u = new URL(url)
    if (u.protocol === 'unix:') target = { socketPath: u.pathname }
    else if (u.protocol === 'tcp:' || u.protocol === 'http:' || u.protocol === 'https:') target = { host: u.hostname, port: Number(u.port) || 2375 }
  } catch {
    return Promise.resolve('not a URL such as unix:///var/run/docker.sock or tcp://host:2375')
  }
  if (!target) return Promise.resolve(undefined)
  return new Promise((resolve) => {
    // Any HTTP answer will do (a TLS port answers plain HTTP with 400): something is listening.
    const req = request({ ...target, path: '/_ping', timeout: 5_000 }, (res) => {
      res.resume()
      resolve(undefined)
    })
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')))
    req.on('error', (e) => resolve(e.message))
    req.end()
  })
}

async function imageExists(docker: Dockerode, ref: string): Promise<Dockerode.ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(ref).inspect()
  } catch {
    return undefined
  }
}

export interface BuildHostImageOptions {
  distro: HostDistro
  onProgress?: Progress
  /** Rebuild even when an image with this recipe exists. */
  force?: boolean
  mirror?: string
}

export interface BuiltImage {
  image: string
  built: boolean
  ms: number
}

/** Build (or find in the cache) `labproof/host:<distro>-<recipe>`, also tagged `labproof/host:<distro>`. */
export async function buildHostImage(opts: BuildHostImageOptions): Promise<BuiltImage> {
  const progress = opts.onProgress ?? stderrProgress
  const started = performance.now()
  const docker = await dockerClient()
  const image = hostImageTag(opts.distro)
  if (!opts.force && await imageExists(docker, image)) {
    return { image, built: false, ms: Math.round(performance.now() - started) }
  }
  // Scenario files run side by side: one process builds, the others wait and use its image.
  const lock = await buildLock(image, progress)
  try {
    if (!opts.force && await imageExists(docker, image)) {
      return { image, built: false, ms: Math.round(performance.now() - started) }
    }
    await removeLeftoverRootfs(opts.distro)
    return await build(docker, image, opts, progress, started)
  } finally {
    await lock.release()
  }
}

async function build(docker: Dockerode, image: string, opts: BuildHostImageOptions, progress: Progress, started: number): Promise<BuiltImage> {
  const mirror = opts.mirror ?? process.env.LABPROOF_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian'
  const rootfs = await mkdtemp(`${ROOTFS_PREFIX}${opts.distro}-`)
  try {
    progress(`building ${image} with debootstrap from ${mirror} (about two minutes)`)
    await debootstrap(opts.distro, rootfs, mirror, progress)
    await trimRootfs(rootfs)
    progress(`importing ${rootfs} as ${image}`)
    await importRootfs(docker, rootfs, image, opts.distro)
  } finally {
    await removeRootfs(rootfs)
  }
  const ms = Math.round(performance.now() - started)
  progress(`built ${image} in ${(ms / 1000).toFixed(1)} s`)
  return { image, built: true, ms }
}

async function debootstrap(distro: HostDistro, rootfs: string, mirror: string, progress: Progress): Promise<void> {
  const which = await runProcess('sh', ['-c', 'command -v debootstrap'], { timeoutMs: 5_000 })
  if (which.exitCode !== 0) throw new Error('debootstrap is not installed: apt-get install debootstrap (it builds the lab host image)')
  if (process.getuid?.() !== 0) throw new Error('building the lab host image runs debootstrap, which needs root')
  const args = ['--variant=minbase', `--include=${HOST_PACKAGES.join(',')}`, distro, rootfs, mirror]
  const child = spawn('debootstrap', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const tail: string[] = []
  let packages = 0
  const onLine = (line: string) => {
    tail.push(line)
    if (tail.length > 30) tail.shift()
    // One line per phase, and a count instead of one line per package.
    const perPackage = /^I: (Retrieving|Validating|Unpacking|Configuring|Extracting) /.test(line)
    if (!perPackage) progress(`debootstrap: ${line}`)
    else if (/^I: Retrieving /.test(line) && ++packages % 25 === 0) progress(`debootstrap: retrieved ${packages} packages`)
  }
  for (const stream of [child.stdout, child.stderr]) {
    let buffered = ''
    stream.on('data', (d) => {
      buffered += String(d)
      const lines = buffered.split('\n')
      buffered = lines.pop()!
      lines.filter(Boolean).forEach(onLine)
    })
  }
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (c) => resolve(c ?? 1))
  })
  if (code !== 0) {
    throw new Error(`debootstrap ${args.join(' ')} exited ${code}; its last lines:\n${tail.join('\n')}\n` +
      `(the full log is ${rootfs}/debootstrap/debootstrap.log while the build runs)`)
  }
}

const ROOTFS_PREFIX = '/var/tmp/labproof-rootfs-'

/** A build killed mid-way (we hold the build lock, so none is running) leaves its rootfs. */
async function removeLeftoverRootfs(distro: HostDistro): Promise<void> {
  const dir = path.dirname(ROOTFS_PREFIX)
  for (const name of await readdir(dir)) {
    if (name.startsWith(`${path.basename(ROOTFS_PREFIX)}${distro}-`)) await removeRootfs(path.join(dir, name))
  }
}

/** debootstrap mounts /proc and /sys inside while it runs: never delete through a mount. */
async function removeRootfs(rootfs: string): Promise<void> {
  await runProcess('sh', ['-c', `umount -R ${rootfs}/proc ${rootfs}/sys 2>/dev/null; rm -rf --one-file-system ${rootfs}`], { timeoutMs: 120_000 })
}

/** Drop what a lab never reads: package caches, docs, man pages, locales. */
async function trimRootfs(rootfs: string): Promise<void> {
  const dirs = ['var/cache/apt/archives', 'var/lib/apt/lists', 'usr/share/doc', 'usr/share/man', 'usr/share/locale', 'usr/share/info']
  const r = await runProcess('sh', ['-c', dirs.map((d) => `rm -rf ${rootfs}/${d}/*`).join(' && ')], { timeoutMs: 60_000 })
  if (r.exitCode !== 0) throw new Error(`could not trim the rootfs ${rootfs}: ${r.stderr}`)
}

async function importRootfs(docker: Dockerode, rootfs: string, image: string, distro: HostDistro): Promise<void> {
  const tar = spawn('tar', ['-C', rootfs, '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let tarErrors = ''
  tar.stderr.on('data', (d) => (tarErrors += String(d)))
  const [repo, tag] = splitRef(image)
  const changes = [
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'CMD ["sleep", "infinity"]',
    `LABEL ${RECIPE_LABEL}=${recipeHash(distro)} labproof.distro=${distro}`,
  ]
  const stream = await docker.importImage(tar.stdout as unknown as string, { repo, tag, changes })
  await followProgress(docker, stream, `docker import of ${rootfs}`)
  const tarCode = await new Promise<number>((resolve) => (tar.exitCode !== null ? resolve(tar.exitCode) : tar.on('close', (c) => resolve(c ?? 1))))
  if (tarCode !== 0) throw new Error(`tar of the rootfs ${rootfs} failed: ${tarErrors}`)
  await docker.getImage(image).tag({ repo: HOST_IMAGE_REPOSITORY, tag: distro })
}

/** One builder per image tag on this machine. */
function buildLock(image: string, progress: Progress): Promise<Lock> {
  const lockFile = `/var/tmp/labproof-build-${image.replace(/[^\w.-]+/g, '_')}.lock`
  return Lock.acquire(lockFile, { purpose: `building ${image}`, onWait: (holder) => progress(`waiting for ${holder}`) })
}

function splitRef(ref: string): [string, string] {
  const colon = ref.lastIndexOf(':')
  return colon > ref.lastIndexOf('/') ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest']
}

function followProgress(docker: Dockerode, stream: NodeJS.ReadableStream, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, events: Array<{ error?: string }>) => {
      const failed = err?.message ?? events.find((e) => e.error)?.error
      if (failed) reject(new Error(`${what} failed: ${failed}`))
      else resolve()
    })
  })
}

export interface EnsureHostImageOptions {
  /** A distro labproof builds (bookworm, trixie, bullseye) or the name of any existing image. */
  distroOrImage?: string
  onProgress?: Progress
}

/** The image a lab runs: the cached host image (built when missing) or a prepared existing image. */
export async function ensureHostImage(opts: EnsureHostImageOptions = {}): Promise<string> {
  const wanted = opts.distroOrImage ?? DEFAULT_DISTRO
  if (isHostDistro(wanted)) return (await buildHostImage({ distro: wanted, onProgress: opts.onProgress })).image
  return prepareExistingImage(wanted, opts.onProgress ?? stderrProgress)
}

/**
 * Use an image labproof did not build: keep it if it has every lab tool; otherwise install the
 * missing ones once with its package manager (on docker's default network: this is package
 * installation, not a lab) and keep the result as a derived image.
 */
async function prepareExistingImage(image: string, progress: Progress): Promise<string> {
  const docker = await dockerClient()
  const info = await imageExists(docker, image)
  if (!info) throw new Error(`no image "${image}" on this docker engine (labproof pulls nothing: docker load or build it first)`)
  const prepared = `${PREPARED_IMAGE_REPOSITORY}:${image.replace(/[^\w.-]+/g, '_').slice(0, 100)}-${info.Id.replace(/^sha256:/, '').slice(0, 12)}`
  if (await imageExists(docker, prepared)) return prepared

  const container = await docker.createContainer({
    Image: image,
    Entrypoint: ['sh', '-c', 'while :; do sleep 3600; done'],
    Cmd: [],
    Labels: { 'labproof.prepare': image },
    HostConfig: { Init: true },
  })
  try {
    await container.start()
    const probe = await execIn(container, missingToolsScript())
    if (probe.exitCode !== 0) throw new Error(`image ${image} cannot run the lab tool check (it needs /bin/sh): exit ${probe.exitCode} ${probe.stderr}`)
    const missing = probe.stdout.trim().split(/\s+/).filter(Boolean)
    if (missing.length === 0) return image
    const manager = (await execIn(container, 'for m in apt-get dnf yum apk; do command -v $m >/dev/null 2>&1 && echo $m && break; done')).stdout.trim()
    if (!manager) throw new Error(`image ${image} lacks the lab tools ${missing.join(', ')} and has no package manager labproof knows (apt-get, dnf, yum, apk)`)
    const key = manager === 'apt-get' ? 'apt' : manager === 'apk' ? 'apk' : 'dnf'
    const packages = [...new Set(missing.map((t) => REQUIRED_TOOLS[t]![key]))]
    progress(`${image} lacks ${missing.join(', ')}: installing ${packages.join(' ')} with ${manager}`)
    const install = {
      apt: `apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${packages.join(' ')} && apt-get clean && rm -rf /var/lib/apt/lists/*`,
      dnf: `${manager} install -y ${packages.join(' ')}`,
      apk: `apk add --no-cache ${packages.join(' ')}`,
    }[key]
    const installed = await execIn(container, install)
    const stillMissing = (await execIn(container, missingToolsScript())).stdout.trim()
    if (installed.exitCode !== 0 || stillMissing) {
      throw new Error(`image ${image} lacks the lab tools ${stillMissing || missing.join(' ')}; installing them with ${manager} failed:\n` +
        `$ ${install}\n${installed.stdout.slice(-2000)}${installed.stderr.slice(-2000)}`)
    }
    const [repo, tag] = splitRef(prepared)
    await container.commit({ repo, tag, changes: ['CMD ["sleep", "infinity"]'] })
    progress(`prepared ${prepared} from ${image}`)
    return prepared
  } finally {
    await container.remove({ force: true })
  }
}

function missingToolsScript(): string {
  return `for t in ${Object.keys(REQUIRED_TOOLS).join(' ')}; do command -v $t >/dev/null 2>&1 || printf '%s ' $t; done`
}

function execIn(container: Dockerode.Container, script: string): Promise<ContainerExecResult> {
  return execInContainer(container, script, { timeoutMs: 15 * 60_000, killInside: false })
}
