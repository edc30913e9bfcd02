// `labproof image build`: the images the container and VM backends start from, built on this
// machine with no registry (debootstrap), cached by recipe. ci/setup.sh calls it; so can a user
// whose labproof came from npm.
import { DEFAULT_DISTRO } from '../backends/docker/docker-options.ts'
import { parseCommand, UsageError } from './usage.ts'

export const IMAGE_HELP = `usage: labproof image build [--distro D]... [--kernel K]... [--vagrant-box] [--force]

Builds, or finds in the cache (a second call takes a second), the images labs start from:
  --distro D     the docker backend's host image for distro D (bookworm, trixie, bullseye),
                 debootstrap from LABPROOF_DEBIAN_MIRROR imported FROM scratch (repeatable;
                 the default when nothing else is named: bookworm)
  --kernel K     the qemu backend's VM image for Debian kernel K (6.1, 5.10, 6.12; repeatable)
  --vagrant-box  the Vagrant box for the libvirt provider (from the 6.1 VM image)
  --force        rebuild the docker images even when they exist
`

const USAGE = 'usage: labproof image build [--distro D]... [--kernel K]... [--vagrant-box] [--force]'

export async function imageCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(args, {
    distro: { type: 'string', multiple: true },
    kernel: { type: 'string', multiple: true },
    'vagrant-box': { type: 'boolean', default: false },
    force: { type: 'boolean', default: false },
  }, true)
  if (positionals[0] !== 'build' || positionals.length > 1) throw new UsageError(`image: ${positionals.length ? `unknown subcommand "${positionals.join(' ')}"` : 'say what to do'}; ${USAGE}`)
  const kernels = values.kernel ?? []
  // The docker image is the default only when no other image is named.
  const distroNames = values.distro ?? (kernels.length || values['vagrant-box'] ? [] : [DEFAULT_DISTRO])
  // Every name is checked before anything is built: a typo costs nothing.
  const docker = distroNames.length ? await import('../backends/docker/docker-image.ts') : undefined
  const vm = kernels.length ? await import('../backends/shared/vm-image.ts') : undefined
  const distros = distroNames.map((d) => {
    if (!docker!.isHostDistro(d)) throw new UsageError(`unknown distro "${d}"; choose from ${docker!.HOST_DISTROS.join(', ')}`)
    return d
  })
  for (const k of kernels) if (!vm!.isVmKernel(k)) throw new UsageError(`unknown kernel "${k}"; choose from ${Object.keys(vm!.VM_KERNELS).join(', ')}`)

  for (const distro of distros) {
    const r = await docker!.buildHostImage({ distro, force: values.force })
    process.stdout.write(`${r.image} ${r.built ? `built in ${(r.ms / 1000).toFixed(1)} s` : 'already built (cached)'}\n`)
  }
  for (const k of kernels) {
    const started = performance.now()
    const image = await vm!.ensureVmImage(k)
    process.stdout.write(`vm image for kernel ${k}: ${image.dir} (${((performance.now() - started) / 1000).toFixed(1)} s)\n`)
  }
  if (values['vagrant-box']) {
    const { ensureVagrantBox } = await import('../backends/vagrant/vagrant-box.ts')
    const started = performance.now()
    const box = await ensureVagrantBox()
    process.stdout.write(`vagrant box ${box.name}: ${box.file} (${((performance.now() - started) / 1000).toFixed(1)} s)\n`)
  }
  return 0
}
