import { sql, type Selectable } from 'kysely'
import type { Executor, PatientTable, SyncState } from '../platform/db.ts'
import type { PageCursor } from '../platform/paging.ts'
import type { EntityType } from '../platform/queue.ts'
import type { SyncedTable } from '../platform/sync-columns.ts'

/** A registry row whose push failed for good. */
export interface FailedRow {
  entity_type: EntityType
  id: string
  fhir_id: string | null
  sync_error: string | null
  sync_attempts: number
  /** Time of the row's last change, the paging key (named like the paging helpers expect). */
  created_at: Date
}

/** Rows per sync state of one table, and the age of its oldest pending change. */
export interface SyncStateCounts {
  pending: number
  conflict: number
  failed: number
  oldestPendingAt: Date | null
}

/** Counts of one pg-boss queue's jobs, as the sync status shows them. */
export interface QueueDepth {
  /** Jobs that may start now. */
  ready: number
  /** Jobs waiting for a later start, such as a delayed retry. */
  deferred: number
  active: number
  /**
   * Time the longest-waiting ready job became ready: its start time, which is its creation time
   * unless it was sent with a delay, as a retry is. So a retry's backoff does not count as lag.
   */
  oldestReadyAt: Date | null
}

const TABLE_OF: Record<EntityType, SyncedTable> = { patient: 'patients', condition: 'conditions' }

/** Queries behind the sync admin API: failed rows, sync states, inbox and queue depths. */
export class SyncAdminRepository {
  /** Lists failed rows of both tables (or one), oldest change first, `limit + 1` for paging. */
  async listFailed(
    db: Executor,
    options: { entityType?: EntityType; after?: PageCursor; limit: number },
  ): Promise<FailedRow[]> {
    const types: EntityType[] = options.entityType ? [options.entityType] : ['patient', 'condition']
    const selects = types.map(
      (type) => sql`
        select ${type}::text as entity_type, id::text as id, fhir_id, sync_error, sync_attempts,
          updated_at as created_at
        from ${sql.table(TABLE_OF[type])}
        where sync_state = 'failed'`,
    )
    const after = options.after
      ? sql`where (created_at, id) > (${options.after.createdAt}, ${options.after.id})`
      : sql``
    const result = await sql<FailedRow>`
      select * from (${sql.join(selects, sql` union all `)}) failed
      ${after}
      order by created_at, id
      limit ${options.limit + 1}`.execute(db)
    return result.rows
  }

  /** Marks a failed row pending again and clears its error and try count, for a replay. */
  async markForReplay(db: Executor, entityType: EntityType, id: string): Promise<boolean> {
    const result = await db
      .updateTable(TABLE_OF[entityType] as 'patients')
      .set({ sync_state: 'pending', sync_error: null, sync_attempts: 0 })
      .where('id', '=', id)
      .where('sync_state', '=', 'failed')
      .executeTakeFirst()
    return result.numUpdatedRows > 0n
  }

  async findSyncState(
    db: Executor,
    entityType: EntityType,
    id: string,
  ): Promise<Pick<Selectable<PatientTable>, 'id' | 'sync_state'> | undefined> {
    return db
      .selectFrom(TABLE_OF[entityType] as 'patients')
      .select(['id', 'sync_state'])
      .where('id', '=', id)
      .executeTakeFirst()
  }

  async countSyncStates(db: Executor, table: SyncedTable): Promise<SyncStateCounts> {
    const rows = await db
      .selectFrom(table as 'patients')
      .select(['sync_state', (eb) => eb.fn.countAll<string>().as('count')])
      .select((eb) => eb.fn.min('updated_at').as('oldest'))
      .where('sync_state', '<>', 'synced')
      .groupBy('sync_state')
      .execute()
    const countOf = (state: SyncState) =>
      Number(rows.find((row) => row.sync_state === state)?.count ?? 0)
    return {
      pending: countOf('pending'),
      conflict: countOf('conflict'),
      failed: countOf('failed'),
      oldestPendingAt: rows.find((row) => row.sync_state === 'pending')?.oldest ?? null,
    }
  }

  /** Counts unprocessed notifications, the parked ones among them, and the oldest one's time. */
  async countInbox(
    db: Executor,
  ): Promise<{ unprocessed: number; parked: number; oldestUnprocessedAt: Date | null }> {
    const row = await db
      .selectFrom('fhir_notifications')
      .select((eb) => [
        eb.fn.countAll<string>().as('unprocessed'),
        eb.fn.count<string>('parked_reason').as('parked'),
        eb.fn.min('received_at').as('oldest'),
      ])
      .where('processed_at', 'is', null)
      .executeTakeFirstOrThrow()
    return {
      unprocessed: Number(row.unprocessed),
      parked: Number(row.parked),
      oldestUnprocessedAt: row.oldest,
    }
  }

  /** Reads pg-boss's job table directly, because its cached queue counts lag by a minute. */
  async queueDepths(
    db: Executor,
    queueSchema: string,
    queues: readonly string[],
  ): Promise<Record<string, QueueDepth>> {
    const result = await sql<{
      name: string
      ready: string
      deferred: string
      active: string
      oldest_ready: Date | null
    }>`
      select name,
        count(*) filter (where state in ('created', 'retry') and start_after <= now()) as ready,
        count(*) filter (where state in ('created', 'retry') and start_after > now()) as deferred,
        count(*) filter (where state = 'active') as active,
        min(start_after) filter (where state in ('created', 'retry') and start_after <= now())
          as oldest_ready
      from ${sql.table(`${queueSchema}.job`)}
      where name in (${sql.join(queues)}) and state in ('created', 'retry', 'active')
      group by name`.execute(db)
    const depths: Record<string, QueueDepth> = {}
    for (const name of queues) {
      const row = result.rows.find((candidate) => candidate.name === name)
      depths[name] = {
        ready: Number(row?.ready ?? 0),
        deferred: Number(row?.deferred ?? 0),
        active: Number(row?.active ?? 0),
        oldestReadyAt: row?.oldest_ready ?? null,
      }
    }
    return depths
  }
}
