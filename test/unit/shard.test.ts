// --shard I/N: N runners given the same scenarios run each exactly once between them, in shards
// that differ in size by one at most, whatever order the scenarios were listed in.
import { describe, expect, test } from 'vitest'
import { parseShard, shardOf } from '../../harness/scenario/shard.ts'
import { SelectionError } from '../../harness/scenario/selection.ts'

const ids = ['namespace-routing', 'ipip-tunnels', 'veth-bridge-nat', 'k8s-linux-networking', 'namespace-kinds', 'netns-veth-bridge-tuntap', 'vxlan', 'a', 'zz']
const scenarios = ids.map((id) => ({ id }))

describe('parseShard', () => {
  test('I/N with 1 <= I <= N', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 })
    expect(parseShard('1/1')).toEqual({ index: 1, count: 1 })
  })

  test.each(['0/3', '4/3', '3', '1/0', 'a/b', '-1/2', '1.5/3', ''])('refuses %j as a usage mistake', (text) => {
    expect(() => parseShard(text)).toThrow(SelectionError)
    expect(() => parseShard(text)).toThrow(/--shard .*: give I\/N with 1 <= I <= N/)
  })
})

describe('shardOf', () => {
  for (const count of [1, 2, 3, 4, ids.length, ids.length + 2]) {
    test(`${count} shards hold every scenario once, balanced`, () => {
      const shards = Array.from({ length: count }, (_, i) => shardOf(scenarios, { index: i + 1, count }).map((s) => s.id))
      expect(shards.flat().sort()).toEqual([...ids].sort())
      const sizes = shards.map((s) => s.length)
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
    })
  }

  test('the same split whatever order the scenarios come in; each shard keeps the given order', () => {
    const reversed = [...scenarios].reverse()
    for (let index = 1; index <= 3; index++) {
      const a = shardOf(scenarios, { index, count: 3 }).map((s) => s.id)
      const b = shardOf(reversed, { index, count: 3 }).map((s) => s.id)
      expect([...b].sort()).toEqual([...a].sort())
      expect(b).toEqual([...a].reverse())
    }
  })

  test('every Nth in id order, starting at the Ith', () => {
    expect(shardOf(scenarios, { index: 1, count: 3 }).map((s) => s.id).sort()).toEqual(['a', 'namespace-kinds', 'veth-bridge-nat'])
  })
})
