import type { Executor } from '../platform/db.ts'
import type { EntityType } from '../platform/queue.ts'

/** Queries that only the metrics need; the sync status's queries live in SyncAdminRepository. */
export class MetricsRepository {
  /** Counts open conflicts per entity type; a type without any is absent. */
  async countOpenConflicts(db: Executor): Promise<Partial<Record<EntityType, number>>> {
    const rows = await db
      .selectFrom('conflicts')
      .select(['entity_type', (eb) => eb.fn.countAll<string>().as('count')])
      .where('status', '=', 'open')
      .groupBy('entity_type')
      .execute()

    return Object.fromEntries(rows.map((row) => [row.entity_type, Number(row.count)]))
  }
}
