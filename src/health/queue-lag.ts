import type { Kysely } from 'kysely'
import type { Clock } from '../platform/clock.ts'
import type { Database } from '../platform/db.ts'
import { QUEUES } from '../platform/queue.ts'
import type { SyncAdminRepository } from '../sync/sync-admin.repository.ts'

/** Queues whose lag decides readiness: a push or merge that waits long means sync has stalled. */
export const LAG_CHECKED_QUEUES = [QUEUES.fhirPush, QUEUES.fhirMerge] as const

/** Seconds the oldest ready job of each checked queue has waited; null when none waits. */
export type QueueLag = Record<(typeof LAG_CHECKED_QUEUES)[number], number | null>

/** The readiness verdict on the queue lag. */
export interface QueueLagVerdict {
  ready: boolean
  /** Maximum wait over the checked queues, in seconds; null when no job waits. */
  oldestReadyAgeSeconds: number | null
  /** Reason the registry is not ready; absent when ready. */
  error?: string
}

export interface QueueLagReaderDeps {
  db: Kysely<Database>
  repository: SyncAdminRepository
  queueSchema: string
  clock: Clock
}

/** Reads the queue lag with the sync status's queue-depth query. */
export class QueueLagReader {
  readonly #deps: QueueLagReaderDeps

  constructor(deps: QueueLagReaderDeps) {
    this.#deps = deps
  }

  async read(): Promise<QueueLag> {
    const { db, repository, queueSchema, clock } = this.#deps
    const depths = await repository.queueDepths(db, queueSchema, LAG_CHECKED_QUEUES)
    const now = clock.now()

    const ageOf = (name: string): number | null => {
      const since = depths[name]?.oldestReadyAt ?? null
      return since === null
        ? null
        : Math.max(0, Math.round((now.getTime() - since.getTime()) / 1000))
    }
    return {
      [QUEUES.fhirPush]: ageOf(QUEUES.fhirPush),
      [QUEUES.fhirMerge]: ageOf(QUEUES.fhirMerge),
    }
  }
}

/** Judges the lag ready when no checked queue's oldest ready job has waited over `maxSeconds`. */
export function judgeQueueLag(lag: QueueLag, maxSeconds: number): QueueLagVerdict {
  const waits = Object.entries(lag).filter((entry): entry is [string, number] => entry[1] !== null)
  const oldestReadyAgeSeconds = waits.length === 0 ? null : Math.max(...waits.map(([, age]) => age))
  const over = waits.filter(([, age]) => age > maxSeconds)
  if (over.length === 0) return { ready: true, oldestReadyAgeSeconds }

  const details = over.map(([queue, age]) => `${queue} ${String(age)} s`).join(', ')
  return {
    ready: false,
    oldestReadyAgeSeconds,
    error: `The oldest ready job waits longer than ${String(maxSeconds)} s (READINESS_MAX_QUEUE_LAG_SECONDS): ${details}`,
  }
}
