// `labproof image build`: the docker backend's lab host image.
import { parseCommand, UsageError } from './usage.ts'

export const IMAGE_HELP = `usage: labproof image build [--distro bookworm|trixie|bullseye]... [--force]

Builds the docker backend's host image for each distro (default bookworm) with debootstrap
(no registry) from LABPROOF_DEBIAN_MIRROR, as FROM scratch; cached, rebuilt when its recipe
changes.

  --distro D    a distro to build (repeatable)
  --force       rebuild even when the image exists
`

export async function imageCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(args, { distro: { type: 'string', multiple: true }, force: { type: 'boolean', default: false } }, true)
  if (positionals[0] !== 'build' || positionals.length > 1) throw new UsageError(`image: ${positionals.length ? `unknown subcommand "${positionals.join(' ')}"` : 'say what to do'}; usage: labproof image build [--distro bookworm|trixie|bullseye]... [--force]`)
  const { buildHostImage, isHostDistro, HOST_DISTROS, DEFAULT_DISTRO } = await import('../backends/docker/docker-image.ts')
  for (const distro of values.distro ?? [DEFAULT_DISTRO]) {
    if (!isHostDistro(distro)) throw new UsageError(`unknown distro "${distro}"; choose from ${HOST_DISTROS.join(', ')}`)
    const r = await buildHostImage({ distro, force: values.force })
    process.stdout.write(`${r.image} ${r.built ? `built in ${(r.ms / 1000).toFixed(1)} s` : 'already built (cached)'}\n`)
  }
  return 0
}
