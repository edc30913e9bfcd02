// What the docker backend takes from the command line: light (no engine client), so the backend
// registry, the CLI and the config can read it without loading testcontainers.
import { z } from 'zod'

export const HOST_DISTROS = ['bookworm', 'trixie', 'bullseye'] as const
export type HostDistro = (typeof HOST_DISTROS)[number]
export const DEFAULT_DISTRO: HostDistro = 'bookworm'

export function isHostDistro(name: string): name is HostDistro {
  return (HOST_DISTROS as readonly string[]).includes(name)
}

export const dockerOptions = z.object({
  /** A distro labproof builds the host image of (bookworm, trixie, bullseye). */
  distro: z.string().optional(),
  /** Any existing image instead of labproof's host image. */
  image: z.string().optional(),
  /** --privileged containers instead of the explicit capabilities. */
  privileged: z.boolean().optional(),
}).strict()
