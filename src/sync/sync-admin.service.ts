import type { Kysely } from 'kysely'
import type { SubscriptionStatus } from '../fhir/subscriptions.ts'
import type { Database } from '../platform/db.ts'
import { ConflictError, NotFoundError } from '../platform/errors.ts'
import type { Logger } from '../platform/logger.ts'
import { UUID_ID, decodeCursor, toPage } from '../platform/paging.ts'
import {
  DEAD_LETTER_QUEUES,
  QUEUES,
  pushSingletonKey,
  transactionWithJobs,
  type EntityType,
  type PgBossQueue,
} from '../platform/queue.ts'
import type { SyncModes } from '../platform/sync-modes.ts'
import type {
  FailedRow,
  QueueDepth,
  SyncAdminRepository,
  SyncStateCounts,
} from './sync-admin.repository.ts'

/** The drift job's last runs and cursors, as the status shows them. */
export interface DriftSummarySource {
  summary(): Promise<Record<string, unknown>>
}

export interface SyncAdminServiceDeps {
  db: Kysely<Database>
  repository: SyncAdminRepository
  queue: PgBossQueue
  queueSchema: string
  syncModes: SyncModes
  drift: DriftSummarySource
  /** Reads the registry's Subscriptions from HAPI. */
  readSubscriptions(): Promise<SubscriptionStatus[]>
  /** Creates or updates the Subscriptions the sync modes need and returns their states. */
  registerSubscriptions(): Promise<SubscriptionStatus[]>
  clock: { now(): Date }
  logger: Logger
}

/** A failed row as the admin API lists it. */
export interface FailedEntity {
  entityType: EntityType
  id: string
  fhirId: string | null
  error: string | null
  attempts: number
  updatedAt: string
}

const WORK_QUEUES = [QUEUES.fhirPush, QUEUES.fhirMerge, QUEUES.syncDrift] as const

/** Page size used when replaying every failed row. */
const REPLAY_PAGE_SIZE = 200

function ageSeconds(since: Date | null, now: Date): number | null {
  return since === null ? null : Math.max(0, Math.round((now.getTime() - since.getTime()) / 1000))
}

function toFailedEntity(row: FailedRow): FailedEntity {
  return {
    entityType: row.entity_type,
    id: row.id,
    fhirId: row.fhir_id,
    error: row.sync_error,
    attempts: row.sync_attempts,
    updatedAt: row.created_at.toISOString(),
  }
}

/** Operations API of the sync engine: status, failed rows and their replay, Subscriptions. */
export class SyncAdminService {
  readonly #deps: SyncAdminServiceDeps

  constructor(deps: SyncAdminServiceDeps) {
    this.#deps = deps
  }

  /**
   * Reports the sync modes, queue depths with the age of the oldest ready job, rows per sync
   * state, the inbox of notifications, the drift job's last runs, and the Subscriptions on HAPI.
   * HAPI being down does not fail the status; the Subscriptions part then carries the error.
   */
  async status(): Promise<Record<string, unknown>> {
    const { db, repository, queueSchema, clock } = this.#deps
    const now = clock.now()
    const depths = await repository.queueDepths(db, queueSchema, [
      ...WORK_QUEUES,
      ...DEAD_LETTER_QUEUES,
    ])
    const describe = (depth: QueueDepth | undefined) => ({
      ready: depth?.ready ?? 0,
      deferred: depth?.deferred ?? 0,
      active: depth?.active ?? 0,
      oldestReadyAgeSeconds: ageSeconds(depth?.oldestReadyAt ?? null, now),
    })
    const describeRows = (counts: SyncStateCounts) => ({
      pending: counts.pending,
      conflict: counts.conflict,
      failed: counts.failed,
      oldestPendingAgeSeconds: ageSeconds(counts.oldestPendingAt, now),
    })
    const inbox = await repository.countInbox(db)

    return {
      modes: this.#deps.syncModes,
      queues: {
        push: describe(depths[QUEUES.fhirPush]),
        merge: describe(depths[QUEUES.fhirMerge]),
        drift: describe(depths[QUEUES.syncDrift]),
      },
      deadLetters: Object.fromEntries(
        DEAD_LETTER_QUEUES.map((name) => [
          name,
          (depths[name]?.ready ?? 0) + (depths[name]?.deferred ?? 0),
        ]),
      ),
      rows: {
        patients: describeRows(await repository.countSyncStates(db, 'patients')),
        conditions: describeRows(await repository.countSyncStates(db, 'conditions')),
      },
      notifications: {
        unprocessed: inbox.unprocessed,
        parked: inbox.parked,
        oldestUnprocessedAgeSeconds: ageSeconds(inbox.oldestUnprocessedAt, now),
      },
      drift: await this.#deps.drift.summary(),
      subscriptions: await this.#subscriptions(),
    }
  }

  async #subscriptions(): Promise<{ items: SubscriptionStatus[] } | { error: string }> {
    try {
      return { items: await this.#deps.readSubscriptions() }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      this.#deps.logger.warn('Subscriptions could not be read for the sync status', {
        error: message,
      })
      return { error: message }
    }
  }

  /** Lists rows whose push failed for good, oldest change first, in pages. */
  async listFailed(query: {
    entityType?: EntityType
    cursor?: string
    limit: number
  }): Promise<{ items: FailedEntity[]; nextCursor: string | null }> {
    const rows = await this.#deps.repository.listFailed(this.#deps.db, {
      entityType: query.entityType,
      after: decodeCursor(query.cursor, UUID_ID),
      limit: query.limit,
    })
    return toPage(rows, query.limit, toFailedEntity)
  }

  /**
   * Pushes a failed row again with a fresh set of tries: marks it pending, sends its push job in
   * the same transaction, and removes its dead letters. 404 when the row does not exist, 409
   * `ENTITY_NOT_FAILED` when it is not failed.
   */
  async replay(entityType: EntityType, id: string, requestId: string): Promise<void> {
    const { db, repository, logger } = this.#deps
    const row = await repository.findSyncState(db, entityType, id)
    if (!row) throw new NotFoundError(entityType === 'patient' ? 'Patient' : 'Condition', id)
    if (row.sync_state !== 'failed') {
      throw new ConflictError(
        'ENTITY_NOT_FAILED',
        `The ${entityType} ${id} is ${row.sync_state}, not failed; only failed rows are replayed`,
        { syncState: row.sync_state },
      )
    }

    await this.#replayRow(entityType, id)
    logger.info('Failed row replayed', { entityType, entityId: id, requestId })
  }

  /** Replays every failed row, or those of one type; returns how many it replayed. */
  async replayAll(entityType: EntityType | undefined, requestId: string): Promise<number> {
    const { db, repository, logger } = this.#deps
    let replayed = 0
    let cursor: string | null | undefined
    // Walks the list once by its cursor, so a row that fails again at once is not replayed twice.
    do {
      const page = await repository.listFailed(db, {
        entityType,
        after: decodeCursor(cursor ?? undefined),
        limit: REPLAY_PAGE_SIZE,
      })
      const { items, nextCursor } = toPage(page, REPLAY_PAGE_SIZE, (row) => row)
      for (const row of items) {
        if (await this.#replayRow(row.entity_type, row.id)) replayed++
      }
      cursor = nextCursor
    } while (cursor)
    logger.info('Failed rows replayed', { entityType: entityType ?? 'all', replayed, requestId })
    return replayed
  }

  /** Creates or updates the registry's Subscriptions on HAPI and returns their states. */
  async registerSubscriptions(): Promise<SubscriptionStatus[]> {
    return this.#deps.registerSubscriptions()
  }

  async #replayRow(entityType: EntityType, id: string): Promise<boolean> {
    const { db, queue, repository } = this.#deps
    const data = { entityType, entityId: id }
    const marked = await transactionWithJobs(db, queue, async (trx, jobs) => {
      if (!(await repository.markForReplay(trx, entityType, id))) return false
      await jobs.send(QUEUES.fhirPush, data, { singletonKey: pushSingletonKey(data) })
      return true
    })
    if (marked) await queue.deleteDeadPushes(data)
    return marked
  }
}
