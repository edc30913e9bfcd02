import { backendEntry } from '../harness/backends/index.ts'
import { buildTopology } from '../harness/topology.ts'
const b = backendEntry('qemu')
const kernel = process.argv[2] ?? '6.1'
await b.preflight({ kernel })
const lab = await b.provision(buildTopology(), { kernel })
const h = lab.host('host01')
console.log((await h.exec('cat /proc/cmdline; grep . /sys/devices/system/cpu/vulnerabilities/*; grep -m1 "model name\\|vendor" /proc/cpuinfo')).stdout)
for (let i = 0; i < 3; i++) {
  const t0 = performance.now()
  await h.exec('i=0; while [ $i -lt 100 ]; do /bin/true; i=$((i+1)); done')
  const t1 = performance.now()
  await h.exec('i=0; while [ $i -lt 20 ]; do ip -j route show >/dev/null; i=$((i+1)); done')
  console.log(`100 x /bin/true ${(t1 - t0).toFixed(0)} ms; 20 x ip -j route ${(performance.now() - t1).toFixed(0)} ms`)
}
await lab.destroy()
