// A lock held across processes on this machine, for labs whose hosts share some kernel state
// with the machine (the netns backend's cgroup v1 hierarchies): two runs at once take turns
// instead of colliding. A killed run never leaves it held (see ownership/lock.ts).
import { Lock, machineLockFile } from './ownership/lock.ts'

export type MachineLock = Lock

export const MachineLock = {
  /** Wait until the named lock is ours. */
  acquire(name: string): Promise<MachineLock> {
    return Lock.acquire(machineLockFile(name), { purpose: `running a lab that changes ${name}` })
  },
}
