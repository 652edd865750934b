import type { Selectable } from 'kysely'
import { toJsonOrNull, type Executor, type FhirNotificationTable } from '../platform/db.ts'

export type NotificationRow = Selectable<FhirNotificationTable>

/** Outcome of a notification whose merge stayed parked after its last attempt. */
export const UNRESOLVED_OUTCOME = 'unresolved'

/** Queries of `fhir_notifications`, the inbox of rest-hook deliveries. */
export class NotificationRepository {
  /**
   * Records a delivery. Returns its id, or null when an unprocessed row already records the same
   * version of the resource, which makes this one a duplicate.
   */
  async insert(
    db: Executor,
    notification: {
      method: string
      resourceType: string | null
      resourceId: string | null
      versionId: number | null
      payload: unknown
    },
  ): Promise<string | null> {
    const row = await db
      .insertInto('fhir_notifications')
      .values({
        method: notification.method,
        resource_type: notification.resourceType,
        resource_id: notification.resourceId,
        version_id: notification.versionId,
        payload: toJsonOrNull(notification.payload),
      })
      .onConflict((conflict) =>
        conflict
          .columns(['resource_type', 'resource_id', 'version_id', 'method'])
          .where('processed_at', 'is', null)
          .where('version_id', 'is not', null)
          .doNothing(),
      )
      .returning('id')
      .executeTakeFirst()
    return row?.id ?? null
  }

  async listUnprocessed(
    db: Executor,
    resourceType: string,
    resourceId: string,
  ): Promise<NotificationRow[]> {
    return db
      .selectFrom('fhir_notifications')
      .selectAll()
      .where('resource_type', '=', resourceType)
      .where('resource_id', '=', resourceId)
      .where('processed_at', 'is', null)
      .orderBy('id')
      .execute()
  }

  async markProcessed(
    db: Executor,
    ids: readonly string[],
    outcome: string,
    now: Date,
  ): Promise<void> {
    if (ids.length === 0) return
    await db
      .updateTable('fhir_notifications')
      .set({ processed_at: now, outcome })
      .where('id', 'in', ids)
      .execute()
  }

  /**
   * Parks notifications whose merge cannot finish yet. They stay unprocessed, so the next merge
   * job of their resource picks them up again, and each one's attempts go up by one.
   */
  async park(
    db: Executor,
    ids: readonly string[],
    reason: string,
    nextAttemptAt: Date,
  ): Promise<void> {
    if (ids.length === 0) return
    await db
      .updateTable('fhir_notifications')
      .set((eb) => ({
        parked_reason: reason,
        attempts: eb('attempts', '+', 1),
        next_attempt_at: nextAttemptAt,
      }))
      .where('id', 'in', ids)
      .where('processed_at', 'is', null)
      .execute()
  }

  /**
   * Gives up on notifications after their last attempt. Marks them processed with the outcome
   * `unresolved` and keeps the reason, so they leave the parked list but stay on record.
   */
  async markUnresolved(
    db: Executor,
    ids: readonly string[],
    reason: string,
    now: Date,
  ): Promise<void> {
    if (ids.length === 0) return
    await db
      .updateTable('fhir_notifications')
      .set((eb) => ({
        processed_at: now,
        outcome: UNRESOLVED_OUTCOME,
        parked_reason: reason,
        attempts: eb('attempts', '+', 1),
        next_attempt_at: null,
      }))
      .where('id', 'in', ids)
      .where('processed_at', 'is', null)
      .execute()
  }

  /** Lists parked notifications, earliest next attempt first. */
  async listParked(db: Executor, limit: number): Promise<NotificationRow[]> {
    return db
      .selectFrom('fhir_notifications')
      .selectAll()
      .where('processed_at', 'is', null)
      .where('parked_reason', 'is not', null)
      .orderBy('next_attempt_at')
      .orderBy('id')
      .limit(limit)
      .execute()
  }
}
