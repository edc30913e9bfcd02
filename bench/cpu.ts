// CPU time spent by this process and by the children it has waited for (every command a lab
// runs, the nodes of a netns lab, a `labproof run` child): less sensitive than wall time to
// what else loads the machine.
import { readFileSync } from 'node:fs'

/** Clock ticks per second of /proc/PID/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100

export function cpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  // Fields after the command name (which may hold spaces) start at field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((i) => Number(fields[i]))
  return ((utime! + stime! + cutime! + cstime!) * 1000) / TICKS_PER_SECOND
}
