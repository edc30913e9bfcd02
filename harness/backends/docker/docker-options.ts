// What the docker backend takes from the command line: light (no engine client), so the backend
// registry, the CLI and the config can read it without loading testcontainers.
import { z } from 'zod'
import { flagOption, valueOption } from '../entry.ts'

export const HOST_DISTROS = ['bookworm', 'trixie', 'bullseye'] as const
export type HostDistro = (typeof HOST_DISTROS)[number]
export const DEFAULT_DISTRO: HostDistro = 'bookworm'

export function isHostDistro(name: string): name is HostDistro {
  return (HOST_DISTROS as readonly string[]).includes(name)
}

export const dockerOptions = z.strictObject({
  distro: valueOption('LIST', `every scenario on each distro labproof builds the host image of (${HOST_DISTROS.join(',')}; default ${DEFAULT_DISTRO}); reports/matrix.md is the scenario x distro table`),
  image: valueOption('NAME', 'run on this existing image instead of labproof\'s (missing tools are installed; default: LABPROOF_DOCKER_IMAGE)'),
  privileged: flagOption('privileged containers instead of the explicit capabilities (default: LABPROOF_DOCKER_PRIVILEGED=1)'),
})
