import type { Selectable } from 'kysely'
import { toJsonOrNull, type Executor, type FhirNotificationTable } from '../platform/db.ts'

export type NotificationRow = Selectable<FhirNotificationTable>

/** Queries of `fhir_notifications`, the inbox of rest-hook deliveries. */
export class NotificationRepository {
  async insert(
    db: Executor,
    notification: {
      method: string
      resourceType: string | null
      resourceId: string | null
      versionId: number | null
      payload: unknown
    },
  ): Promise<string> {
    const row = await db
      .insertInto('fhir_notifications')
      .values({
        method: notification.method,
        resource_type: notification.resourceType,
        resource_id: notification.resourceId,
        version_id: notification.versionId,
        payload: toJsonOrNull(notification.payload),
      })
      .returning('id')
      .executeTakeFirstOrThrow()
    return row.id
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
}
