// Whether a process exists: how every sweep tells a dead run's leftovers from a live run's.

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    // EPERM: it exists, and belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}
