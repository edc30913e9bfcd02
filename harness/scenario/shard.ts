// `labproof run --shard I/N`: runner I of N takes every Nth scenario in id order, starting at
// the Ith. The same scenarios give the same split on every runner, the N shards together hold
// each scenario exactly once, and no two shards differ in size by more than one.
import { SelectionError } from './selection.ts'

export interface Shard { index: number; count: number }

export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim())
  const index = Number(m?.[1])
  const count = Number(m?.[2])
  if (!m || count < 1 || index < 1 || index > count) {
    throw new SelectionError(`--shard ${text}: give I/N with 1 <= I <= N, e.g. --shard 2/3 (the second of three runners)`)
  }
  return { index, count }
}

export function shardOf<T extends { id: string }>(scenarios: T[], shard: Shard): T[] {
  const order = [...scenarios].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const mine = new Set(order.filter((_, i) => i % shard.count === shard.index - 1))
  return scenarios.filter((s) => mine.has(s))
}
