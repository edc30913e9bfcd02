// The one kind of free text labproof itself puts into a host's shell, a tcpdump filter
// (`capture:` and `wire:`), carrying shell metacharacters on a real netns lab: tcpdump refuses
// each as a filter (capturing, or reading a kept capture back), and nothing runs, in the host or
// on this machine. (Every other field is
// refused at load or never reaches a shell: test/unit/shell-metacharacters.test.ts.)
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { netnsBackend } from '../../harness/backends/netns/netns.ts'
import { CaptureSet } from '../../harness/capture/capture-set.ts'
import type { Lab } from '../../harness/lab.ts'
import { buildTopology } from '../../harness/topology.ts'

const root = process.getuid?.() === 0

describe.skipIf(!root)('metacharacters in a capture filter on a netns lab (needs root)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'labproof-meta-'))
  const marker = path.join(dir, 'ran')
  const payloads = [`icmp;touch ${marker}`, `icmp $(touch ${marker})`, `icmp \`touch ${marker}\``, `icmp' ; touch ${marker} ; '`, `icmp\ntouch ${marker}`, `icmp|touch ${marker}`]
  let lab: Lab

  beforeAll(async () => {
    lab = await netnsBackend.provision(buildTopology())
  })
  afterAll(async () => {
    await lab?.destroy()
    rmSync(dir, { recursive: true, force: true })
  })

  test.each(payloads)('filter %j: tcpdump refuses it, nothing runs', async (filter) => {
    // A capture of one step and the lab's kept capture both filter as they capture.
    await expect(new CaptureSet(lab, true).open([{ on: 'host01:ens33', filter }])).rejects.toThrow(/tcpdump did not start on host01:ens33: .*(syntax error|can't parse filter)/s)
    const kept = new CaptureSet(lab)
    await expect(kept.open([{ on: 'host01:ens33', filter }])).rejects.toThrow(/tcpdump did not start on host01:ens33: .*(syntax error|can't parse filter)/s)
    await kept.endAll()
    // Inside the host (its /tmp is its own) and on this machine.
    expect((await lab.host('host01').exec(`test -e ${marker}`)).exitCode).toBe(1)
    expect(existsSync(marker)).toBe(false)
  })
})
