import { sql, type Selectable } from 'kysely'
import { toJson, toJsonOrNull, type BackfillRunTable, type Executor } from '../platform/db.ts'

export type BackfillRunRow = Selectable<BackfillRunTable>
export type BackfillDirection = BackfillRunRow['direction']

/** Tables the to-fhir backfill reads, in the order it reads them. */
export type UnsyncedTable = 'patients' | 'conditions'

/**
 * Rows the to-fhir backfill writes: never written to FHIR and not deleted, or waiting for a push
 * or failed. The text matches the predicate of the partial indexes of sql/007_backfill.sql, so
 * Postgres reads the pages from them.
 */
const UNSYNCED = sql<boolean>`(sync_state in ('pending', 'failed') or (fhir_version_id is null and deleted_at is null))`

function lockKey(direction: BackfillDirection) {
  return sql`hashtext('backfill:' || current_schema() || ':' || ${direction})`
}

// Both tables have the sync columns and a uuid id, so Kysely types the query against one of them.
function asPatients(table: UnsyncedTable): 'patients' {
  return table as 'patients'
}

/** Queries of backfill runs and of the rows the to-fhir backfill reads. */
export class BackfillRepository {
  async findRunning(
    db: Executor,
    direction: BackfillDirection,
  ): Promise<BackfillRunRow | undefined> {
    return db
      .selectFrom('backfill_runs')
      .selectAll()
      .where('direction', '=', direction)
      .where('status', '=', 'running')
      .executeTakeFirst()
  }

  async findById(db: Executor, id: string): Promise<BackfillRunRow | undefined> {
    return db.selectFrom('backfill_runs').selectAll().where('id', '=', id).executeTakeFirst()
  }

  async listByDirection(db: Executor, direction: BackfillDirection): Promise<BackfillRunRow[]> {
    return db
      .selectFrom('backfill_runs')
      .selectAll()
      .where('direction', '=', direction)
      .orderBy('started_at')
      .orderBy('id')
      .execute()
  }

  async insert(
    db: Executor,
    run: { id: string; direction: BackfillDirection; search: Record<string, string>; now: Date },
  ): Promise<BackfillRunRow> {
    return db
      .insertInto('backfill_runs')
      .values({
        id: run.id,
        direction: run.direction,
        status: 'running',
        cursor: null,
        search: toJson(run.search),
        counts: toJson({}),
        started_at: run.now,
        updated_at: run.now,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
  }

  /** Saves the position and the totals after a page, in one statement. */
  async saveProgress(
    db: Executor,
    id: string,
    progress: { cursor: unknown; processed: number; counts: Record<string, number>; now: Date },
  ): Promise<void> {
    await db
      .updateTable('backfill_runs')
      .set({
        cursor: toJsonOrNull(progress.cursor),
        processed: progress.processed,
        counts: toJson(progress.counts),
        updated_at: progress.now,
      })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .execute()
  }

  /** Ends a running run as `finished` or, for a restart, `abandoned`. */
  async end(db: Executor, id: string, status: 'finished' | 'abandoned', now: Date): Promise<void> {
    await db
      .updateTable('backfill_runs')
      .set({ status, finished_at: now, updated_at: now })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .execute()
  }

  /**
   * Takes the backfill lock of the direction in this schema for the session of `connection`, or
   * returns false when another session holds it. It is a session lock, so Postgres releases it
   * when the process dies, even by SIGKILL.
   */
  async tryLockDirection(connection: Executor, direction: BackfillDirection): Promise<boolean> {
    const result = await sql<{ locked: boolean }>`
      select pg_try_advisory_lock(${lockKey(direction)}) as locked`.execute(connection)
    return result.rows[0]?.locked === true
  }

  async unlockDirection(connection: Executor, direction: BackfillDirection): Promise<void> {
    await sql`select pg_advisory_unlock(${lockKey(direction)})`.execute(connection)
  }

  /** Ids of the next rows to write to FHIR after `afterId`, in id order. */
  async listUnsyncedIds(
    db: Executor,
    table: UnsyncedTable,
    afterId: string | null,
    limit: number,
  ): Promise<string[]> {
    let query = db.selectFrom(asPatients(table)).select('id').where(UNSYNCED)
    if (afterId !== null) query = query.where('id', '>', afterId)
    const rows = await query.orderBy('id').limit(limit).execute()
    return rows.map((row) => row.id)
  }

  /** Counts the rows still to write after `afterId`, for the progress total. */
  async countUnsynced(db: Executor, table: UnsyncedTable, afterId: string | null): Promise<number> {
    let query = db
      .selectFrom(asPatients(table))
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where(UNSYNCED)
    if (afterId !== null) query = query.where('id', '>', afterId)
    const row = await query.executeTakeFirstOrThrow()
    return Number(row.count)
  }
}
