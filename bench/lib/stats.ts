/** Percentiles and rates of one benchmark run. */

export interface LatencySummary {
  count: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  maxMs: number
  meanMs: number
}

/** Returns the nearest-rank percentile (0 < fraction ≤ 1) of values sorted in ascending order. */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil(fraction * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN
}

/** Summarises latencies in milliseconds; the input is left unsorted. */
export function summarizeLatencies(latenciesMs: readonly number[]): LatencySummary {
  const sorted = [...latenciesMs].sort((a, b) => a - b)
  const total = sorted.reduce((sum, value) => sum + value, 0)
  return {
    count: sorted.length,
    p50Ms: percentile(sorted, 0.5),
    p95Ms: percentile(sorted, 0.95),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.at(-1) ?? Number.NaN,
    meanMs: sorted.length === 0 ? Number.NaN : total / sorted.length,
  }
}

/** Formats milliseconds with one decimal, or `n/a` for no value. */
export function formatMs(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(1)} ms` : 'n/a'
}

/** Formats a rate per second, with no decimals from 100 up. */
export function formatRate(count: number, seconds: number, unit = '/s'): string {
  const rate = count / seconds
  if (!Number.isFinite(rate)) return 'n/a'
  return `${rate >= 100 ? rate.toFixed(0) : rate.toFixed(1)}${unit}`
}

/** Formats a ratio as `1.23x`. */
export function formatRatio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}x` : 'n/a'
}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
