// The VM backends (qemu.ts, vm-image.ts, vagrant*.ts) still import isAlive from here; the one
// owner-alive test is ownership/owner.ts. Their names carry only a PID, so a reused PID still
// counts as alive there until they write ownerTag() into them.
export { ownerAlive as isAlive } from './ownership/owner.ts'
