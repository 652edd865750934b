import type { DriftRun, QueueDepth, RowStates } from './sync-api.ts'

/** How much a figure needs an admin's eye; each level is shown with its text, not colour only. */
export type Level = 'ok' | 'warn' | 'danger'

/** A level with the words that explain it. */
export interface Attention {
  level: Level
  text: string
}

/**
 * A ready job that waited this long means the workers lag. The drift catch-up queues a row pending
 * for 2 minutes again, and readiness fails at 5 minutes (READINESS_MAX_QUEUE_LAG_SECONDS).
 */
export const QUEUE_WAIT_WARN_S = 60
export const QUEUE_WAIT_DANGER_S = 300
export const PENDING_AGE_WARN_S = 120
export const INBOX_AGE_WARN_S = 120

/**
 * Rates a work queue: ok while jobs start soon, warn when they wait, danger past the readiness limit.
 * Deferred jobs are retries only in the push queue. In the merge queue they are parked
 * notifications, which the inbox shows, and in the drift queue the next scheduled run.
 */
export function queueAttention(queue: 'push' | 'merge' | 'drift', depth: QueueDepth): Attention {
  const waited = depth.oldestReadyAgeSeconds ?? 0
  if (waited >= QUEUE_WAIT_DANGER_S) return { level: 'danger', text: 'Stalled' }
  if (waited >= QUEUE_WAIT_WARN_S) return { level: 'warn', text: 'Lagging' }
  if (queue === 'push' && depth.deferred > 0) return { level: 'warn', text: 'Retrying' }
  return { level: 'ok', text: 'OK' }
}

/** Rates a dead-letter queue: any job in it failed for good and waits for a person. */
export function deadLetterAttention(count: number): Attention {
  return count > 0 ? { level: 'danger', text: 'Needs replay' } : { level: 'ok', text: 'Empty' }
}

/** Rates the rows of one table: failed rows need a replay, conflicts a steward, old pending rows a look. */
export function rowAttention(rows: RowStates): Attention {
  if (rows.failed > 0) return { level: 'danger', text: 'Failed rows' }
  if ((rows.oldestPendingAgeSeconds ?? 0) >= PENDING_AGE_WARN_S) {
    return { level: 'warn', text: 'Pending too long' }
  }
  if (rows.conflict > 0) return { level: 'warn', text: 'Open conflicts' }
  return { level: 'ok', text: 'OK' }
}

/** Rates the notification inbox: parked deliveries wait for their patient, old ones for a worker. */
export function inboxAttention(inbox: {
  parked: number
  oldestUnprocessedAgeSeconds: number | null
}): Attention {
  if ((inbox.oldestUnprocessedAgeSeconds ?? 0) >= INBOX_AGE_WARN_S) {
    return { level: 'warn', text: 'Waiting too long' }
  }
  if (inbox.parked > 0) return { level: 'warn', text: 'Parked deliveries' }
  return { level: 'ok', text: 'OK' }
}

/** Rates a Subscription, which works only while HAPI reports it `active`. */
export function subscriptionAttention(status: string): Attention {
  return status === 'active' ? { level: 'ok', text: 'Active' } : { level: 'danger', text: status }
}

/** Rates a drift run: failed is danger, findings warn, and a queued or running run gets none. */
export function driftRunAttention(run: DriftRun): Attention | null {
  switch (run.status) {
    case 'failed':
      return { level: 'danger', text: 'Failed' }
    case 'finished':
      return (run.counts.findings ?? 0) > 0
        ? { level: 'warn', text: 'Finished with findings' }
        : { level: 'ok', text: 'Finished' }
    case 'queued':
    case 'running':
      return null
  }
}
