// Small, exact statistics: sample sets here are thousands of values, so sorting them is
// cheaper and more honest than a histogram's buckets.
import type { LatencySummary } from './loadgen-protocol.js'

/** Nearest-rank percentile of an ascending array (q in 0..100). */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length
  if (n === 0) return Number.NaN
  const rank = Math.min(n, Math.max(1, Math.ceil((q / 100) * n)))
  return sorted[rank - 1] as number
}

export function summarize(values: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(values).sort()
  let sum = 0
  for (const v of sorted) sum += v
  const n = sorted.length
  return {
    count: n,
    mean: n === 0 ? Number.NaN : sum / n,
    p50: percentileSorted(sorted, 50),
    p90: percentileSorted(sorted, 90),
    p99: percentileSorted(sorted, 99),
    max: n === 0 ? Number.NaN : (sorted[n - 1] as number),
  }
}

/** Median; the mean of the middle two for an even count. */
export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  const n = sorted.length
  if (n === 0) return Number.NaN
  const mid = n >> 1
  return n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

export function round(value: number, digits: number): number {
  if (!Number.isFinite(value)) return value
  const f = 10 ** digits
  return Math.round(value * f) / f
}
