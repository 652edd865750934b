import type { Resource } from '@medplum/fhirtypes'
import type { Kysely } from 'kysely'
import type { Database } from '../platform/db.ts'
import {
  QUEUES,
  mergeSingletonKey,
  transactionWithJobs,
  type JobQueue,
  type MergeJobData,
} from '../platform/queue.ts'
import type { NotificationRepository } from './notification.repository.ts'

/**
 * Method recorded on a notification that drift found in HAPI's history or by comparing a row,
 * rather than one HAPI delivered. Deletions are recorded as `DELETE`, as the receiver does.
 */
export const HISTORY_METHOD = 'HISTORY'

/** A FHIR change that drift hands to the merge. */
export interface DriftChange {
  resourceType: MergeJobData['resourceType']
  resourceId: string
  versionId: number | null
  deleted: boolean
  resource: Resource | null
}

export interface MergeFeedDeps {
  db: Kysely<Database>
  notifications: NotificationRepository
  queue: JobQueue
}

/**
 * Records each change as a notification and queues the merge of its resource, in one
 * transaction, the way the rest-hook receiver records a delivery. The merge treats it like any
 * delivery: it reads the current version from HAPI, so an old or repeated change is harmless.
 */
export async function feedToMerge(
  deps: MergeFeedDeps,
  changes: readonly DriftChange[],
): Promise<void> {
  if (changes.length === 0) return
  const { db, notifications, queue } = deps

  await transactionWithJobs(db, queue, async (trx, jobs) => {
    for (const change of changes) {
      await notifications.insert(trx, {
        method: change.deleted ? 'DELETE' : HISTORY_METHOD,
        resourceType: change.resourceType,
        resourceId: change.resourceId,
        versionId: change.versionId,
        payload: change.resource,
      })
      const data = { resourceType: change.resourceType, resourceId: change.resourceId }
      await jobs.send(QUEUES.fhirMerge, data, { singletonKey: mergeSingletonKey(data) })
    }
  })

  // A parked Condition waits for a delayed retry; a change found now should not wait with it.
  const conditionIds = new Set(
    changes
      .filter((change) => change.resourceType === 'Condition')
      .map((change) => change.resourceId),
  )
  for (const resourceId of conditionIds) {
    const data: MergeJobData = { resourceType: 'Condition', resourceId }
    await queue.startDelayedNow(QUEUES.fhirMerge, data, mergeSingletonKey(data))
  }
}
