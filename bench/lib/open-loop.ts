/**
 * An open-loop load generator: it starts operations on a fixed schedule whether or not earlier
 * ones have finished, as independent clients would. Each latency counts from the scheduled start,
 * not from the moment the generator got round to it, so a server (or generator) that falls behind
 * shows in the percentiles instead of silently lowering the rate (coordinated omission).
 */
import { sleep, summarizeLatencies, type LatencySummary } from './stats.ts'

/** Outcome of one open-loop run. */
export interface OpenLoopResult {
  /** Operations started. */
  sent: number
  /** Operations that failed or returned an unexpected status. */
  errors: number
  /** Completed operations per second, from the first scheduled start to the last completion. */
  achievedRate: number
  latency: LatencySummary
}

/**
 * Starts `operation(index)` `rate` times a second for `seconds` seconds and waits for every one
 * to end. `operation` resolves to false, or rejects, on a failure.
 */
export async function runOpenLoop(
  rate: number,
  seconds: number,
  operation: (index: number) => Promise<boolean>,
): Promise<OpenLoopResult> {
  const total = Math.max(1, Math.round(rate * seconds))
  const intervalMs = 1000 / rate
  const latenciesMs: number[] = []
  const running: Promise<void>[] = []
  let errors = 0
  let lastEndMs = 0

  const start = performance.now()
  for (let index = 0; index < total; index++) {
    const dueMs = start + index * intervalMs
    const waitMs = dueMs - performance.now()
    // Timers fire about 1 ms late at best, so a wait under 1 ms is skipped and the operation starts
    // up to 1 ms early. Latency counts from the earlier of the scheduled and the real start: from
    // the real start when early, and from the schedule when the generator fell behind.
    if (waitMs >= 1) await sleep(waitMs)
    const startedMs = Math.min(dueMs, performance.now())
    running.push(
      operation(index)
        .then(
          (ok) => {
            if (!ok) errors++
          },
          () => {
            errors++
          },
        )
        .finally(() => {
          lastEndMs = performance.now()
          latenciesMs.push(lastEndMs - startedMs)
        }),
    )
  }
  await Promise.all(running)

  return {
    sent: total,
    errors,
    // The schedule gives each operation a slot of intervalMs, the last one included.
    achievedRate: (total / (lastEndMs - start + intervalMs)) * 1000,
    latency: summarizeLatencies(latenciesMs),
  }
}
