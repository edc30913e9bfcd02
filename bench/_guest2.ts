import { backendEntry } from '../harness/backends/index.ts'
import { buildTopology } from '../harness/topology.ts'
import { createQemuBackend } from '../harness/backends/qemu/qemu.ts'
const b = backendEntry('qemu')
const kernel = process.argv[2] ?? '6.1'
await b.preflight({ kernel })
const lab = await b.provision(buildTopology(), { kernel })
const h = lab.host('host01')
console.log(lab.facts)
console.log((await h.exec('cat /proc/uptime; dmesg | grep -n "Run /\\|Freeing unused\\|EXT4-fs\\|virtio\\|clocksource\\|Trying to unpack\\|random:" | head -30; dmesg | tail -3; ls -la /run/')).stdout)
const { execSync } = await import('node:child_process'); console.log(execSync('du -sh /tmp/labproof-qemu-saved-*/* /tmp/labproof-qemu-saved-*/*/*; df -h /tmp /root/.cache').toString())
await lab.destroy()
