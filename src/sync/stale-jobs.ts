import type { Kysely } from 'kysely'
import type { Database } from '../platform/db.ts'
import {
  QUEUES,
  mergeSingletonKey,
  pushSingletonKey,
  type EntityType,
  type JobQueue,
  type MergeJobData,
} from '../platform/queue.ts'

/** Rows or resources re-queued per type and run; the next run takes the rest. */
const STALE_JOB_LIMIT = 500

/**
 * Sends a push job for every row that has been `pending` for longer than `olderThanSeconds`.
 * A registry write commits together with its push job, but when the queue dropped that send
 * (a job of the row was waiting) and the process died before repeating it after the commit, the
 * row has no job. The stately queue drops each send here that finds a job of the row waiting,
 * such as a delayed retry, so a row whose push is on its way is not pushed twice. Returns how
 * many sends the queue took.
 */
export async function requeueStalePushes(
  db: Kysely<Database>,
  queue: JobQueue,
  entityTypes: readonly EntityType[],
  olderThanSeconds: number,
  now: Date,
): Promise<number> {
  const before = new Date(now.getTime() - olderThanSeconds * 1000)
  let sent = 0
  for (const entityType of entityTypes) {
    const table = entityType === 'patient' ? 'patients' : 'conditions'
    const rows = await db
      .selectFrom(table)
      .select('id')
      .where('sync_state', '=', 'pending')
      .where('updated_at', '<', before)
      .orderBy('updated_at')
      .limit(STALE_JOB_LIMIT)
      .execute()
    for (const { id } of rows) {
      const data = { entityType, entityId: id }
      const jobId = await queue.send(QUEUES.fhirPush, data, {
        singletonKey: pushSingletonKey(data),
      })
      if (jobId !== null) sent++
    }
  }
  return sent
}

/**
 * Sends a merge job for every resource with a notification that has waited unprocessed for longer
 * than `olderThanSeconds`, parked ones aside (a delayed job of their own waits for them). The
 * receiver and the catch-up record a notification and send its merge job in one transaction, but
 * a send the queue dropped and the process could not repeat after the commit leaves the
 * notification without a job. Returns how many sends the queue took.
 */
export async function requeueStaleMerges(
  db: Kysely<Database>,
  queue: JobQueue,
  olderThanSeconds: number,
  now: Date,
): Promise<number> {
  const before = new Date(now.getTime() - olderThanSeconds * 1000)
  const resources = await db
    .selectFrom('fhir_notifications')
    .select(['resource_type', 'resource_id'])
    .distinct()
    .where('processed_at', 'is', null)
    .where('parked_reason', 'is', null)
    .where('received_at', '<', before)
    .where('resource_type', 'in', ['Patient', 'Condition'])
    .where('resource_id', 'is not', null)
    .limit(STALE_JOB_LIMIT)
    .execute()
  let sent = 0
  for (const resource of resources) {
    const data: MergeJobData = {
      resourceType: resource.resource_type as MergeJobData['resourceType'],
      resourceId: resource.resource_id ?? '',
    }
    const jobId = await queue.send(QUEUES.fhirMerge, data, {
      singletonKey: mergeSingletonKey(data),
    })
    if (jobId !== null) sent++
  }
  return sent
}
