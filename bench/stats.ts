// Summaries of repeated timings: the median, the extremes and the interquartile range.

export interface Spread {
  n: number
  median: number
  min: number
  max: number
  /** First and third quartiles (linear interpolation between samples). */
  q1: number
  q3: number
}

export function spread(samples: number[]): Spread {
  if (samples.length === 0) return { n: 0, median: NaN, min: NaN, max: NaN, q1: NaN, q3: NaN }
  const s = [...samples].sort((a, b) => a - b)
  return { n: s.length, median: quantile(s, 0.5), min: s[0]!, max: s.at(-1)!, q1: quantile(s, 0.25), q3: quantile(s, 0.75) }
}

function quantile(sorted: number[], q: number): number {
  const at = (sorted.length - 1) * q
  const lo = Math.floor(at)
  const hi = Math.ceil(at)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo)
}

/** `1234 (1100–1400)`: the median and the range, in ms or s. */
export function formatSpread(s: Spread, unit: 'ms' | 's' = 'ms'): string {
  if (s.n === 0) return '–'
  const f = (v: number) => (unit === 's' ? (v / 1000).toFixed(2) : Math.round(v).toString())
  return s.n === 1 ? `${f(s.median)}` : `${f(s.median)} (${f(s.min)}–${f(s.max)})`
}
