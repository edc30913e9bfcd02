// Each netns host on a root file system of its own (harness/backends/shared/netns-root.ts): its writes
// stay in it, two hosts do not share /etc, /dev holds no disk, /proc/sys is read-only but net.*.
import { existsSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { netnsBackend } from '../../harness/backends/netns/netns.ts'
import { NODE_DISK_MB, separateSystemMounts } from '../../harness/backends/shared/netns-root.ts'
import type { Lab } from '../../harness/lab.ts'
import { buildTopology } from '../../harness/topology.ts'

describe('separate system mounts get an overlay of their own', () => {
  test('found by mount point in mountinfo, octal escapes read', () => {
    const info = ['22 1 8:1 / / rw - ext4 /dev/sda1 rw', '23 22 8:2 / /usr rw - ext4 /dev/sda2 rw', '24 22 8:3 / /var/lib/docker rw - ext4 /dev/sda3 rw', '25 22 8:4 / /op\\164 rw - ext4 /dev/sda4 rw'].join('\n')
    expect(separateSystemMounts(info)).toEqual(['/usr', '/opt'])
  })
})

describe.skipIf(process.getuid?.() !== 0)('a netns host\'s own root (needs root)', () => {
  let lab: Lab
  const mark = `/etc/labproof-root-test-${process.pid}`
  beforeAll(async () => {
    lab = await netnsBackend.provision(buildTopology())
  })
  afterAll(async () => {
    await lab?.destroy()
  })

  test('a file written in host01\'s /etc is in host01 only: not in host02, not on this machine', async () => {
    await lab.host('host01').succeed(`echo one > ${mark}`)
    expect((await lab.host('host01').succeed(`cat ${mark}`)).trim()).toBe('one')
    expect((await lab.host('host02').exec(`test -e ${mark}`)).exitCode).toBe(1)
    expect(existsSync(mark)).toBe(false)
  })

  test('each host names itself in /etc/hostname and /etc/hosts', async () => {
    expect((await lab.host('host02').succeed('cat /etc/hostname')).trim()).toBe('host-02')
    expect(await lab.host('host02').succeed('cat /etc/hosts')).toMatch(/127\.0\.1\.1\thost-02\n$/)
  })

  test(`the root is an overlay whose writes go to a ${NODE_DISK_MB} MiB tmpfs; /root is empty`, async () => {
    expect((await lab.host('host01').succeed('df -m --output=size / | tail -1')).trim()).toBe(String(NODE_DISK_MB))
    expect(await lab.host('host01').succeed('stat -f -c %T /')).toMatch(/overlay/)
    expect(await lab.host('host01').succeed('ls -A /root')).toBe('')
  })

  test('/dev: what labs use, and no block device', async () => {
    const dev = (await lab.host('host01').succeed('ls /dev')).split('\n').filter(Boolean)
    for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'pts', 'net', 'shm', 'fd']) expect(dev).toContain(d)
    expect(await lab.host('host01').succeed('find /dev -type b')).toBe('')
    expect(await lab.host('host01').succeed('ls /dev/net')).toBe('tun\n')
    await lab.host('host01').succeed('ip tuntap add lp-tun0 mode tun && ip tuntap del lp-tun0 mode tun')
  })

  test('/proc/sys: net.* writable (per network namespace), vm.* and kernel.* read-only', async () => {
    await lab.host('host01').succeed('sysctl -qw net.ipv4.ip_forward=1')
    expect((await lab.host('host02').succeed('cat /proc/sys/net/ipv4/ip_forward')).trim()).toBe('0')
    const vm = await lab.host('host01').exec('sysctl -w vm.swappiness="$(sysctl -n vm.swappiness)"')
    expect(vm.exitCode).not.toBe(0)
    expect(vm.stderr).toMatch(/permission denied|Read-only/)
  })

  test('a command starts in the host\'s own /: a relative path does not reach the machine\'s tree', async () => {
    expect((await lab.host('host01').succeed('pwd')).trim()).toBe('/')
    await lab.host('host01').succeed(`touch ./tmp/labproof-root-test-${process.pid}`)
    expect(existsSync(`/tmp/labproof-root-test-${process.pid}`)).toBe(false)
  })
})
