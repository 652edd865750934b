import type { Resource } from '@medplum/fhirtypes'
import type { Job } from 'pg-boss'
import type { Kysely } from 'kysely'
import { FhirRequestError, type FhirClient } from '../fhir/fhir-client.ts'
import type { Clock } from '../platform/clock.ts'
import type { Database } from '../platform/db.ts'
import { errorFields, type Logger } from '../platform/logger.ts'
import {
  QUEUE_SETTINGS,
  QUEUES,
  parkedMergeRetryDelaySeconds,
  sendDelayedMergeJob,
  type MergeJobData,
  type PgBossQueue,
  type PushJobData,
} from '../platform/queue.ts'
import { recordSyncFailure } from '../platform/sync-columns.ts'
import {
  PARKED_PREFIX,
  isParked,
  type InboundMerge,
  type MergeOutcome,
  type ParkedOutcome,
} from './inbound-merge.ts'
import type { NotificationRepository, NotificationRow } from './notification.repository.ts'
import { PushBlockedError, type OutboundPush } from './outbound-push.ts'

export interface SyncWorkersDeps {
  db: Kysely<Database>
  queue: PgBossQueue
  notifications: NotificationRepository
  merge: InboundMerge
  push: OutboundPush
  fhir: FhirClient
  clock: Clock
  logger: Logger
  concurrency: number
}

/** HAPI keeps at most 16 characters of X-Request-ID in meta.source, letters and digits are safe. */
function fhirRequestId(jobId: string): string {
  return jobId.replaceAll('-', '').slice(0, 16)
}

/** Returns the earliest next try of the notifications if all of them are parked, else null. */
function parkedRetryTime(pending: readonly NotificationRow[]): Date | null {
  let earliest: Date | null = null
  for (const notification of pending) {
    if (notification.parked_reason === null || notification.next_attempt_at === null) return null
    if (earliest === null || notification.next_attempt_at < earliest) {
      earliest = notification.next_attempt_at
    }
  }
  return earliest
}

/** The pg-boss workers that push registry changes to HAPI and merge HAPI's changes back. */
export class SyncWorkers {
  readonly #deps: SyncWorkersDeps

  constructor(deps: SyncWorkersDeps) {
    this.#deps = deps
  }

  async start(): Promise<void> {
    const { queue, concurrency } = this.#deps
    await queue.work(QUEUES.fhirPush, concurrency, (job) => this.handlePush(job))
    await queue.work(QUEUES.fhirMerge, concurrency, (job) => this.handleMerge(job))
  }

  /** Pushes one registry row; a failure that retrying cannot fix marks the row failed. */
  async handlePush(job: Job<PushJobData>): Promise<void> {
    const logger = this.#deps.logger.child({ jobId: job.id, queue: job.name, ...job.data })
    const table = job.data.entityType === 'patient' ? 'patients' : 'conditions'
    const started = performance.now()
    try {
      const outcome = await this.#deps.push.push(job.data, fhirRequestId(job.id))
      logger.info('Row pushed to FHIR', {
        outcome,
        durationMs: Math.round(performance.now() - started),
      })
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      if (error instanceof FhirRequestError && !error.retryable) {
        await recordSyncFailure(this.#deps.db, table, job.data.entityId, 'failed', message)
        logger.error('FHIR rejected the push', { ...errorFields(error), status: error.status })
        return
      }
      if (error instanceof PushBlockedError) {
        await recordSyncFailure(this.#deps.db, table, job.data.entityId, 'failed', message)
        logger.error('Push blocked', errorFields(error))
        return
      }
      // pg-boss moves the job to the dead-letter queue after its last retry, so the row is marked failed.
      const lastAttempt = job.retryCount >= QUEUE_SETTINGS[QUEUES.fhirPush].retryLimit
      await recordSyncFailure(
        this.#deps.db,
        table,
        job.data.entityId,
        lastAttempt ? 'failed' : 'pending',
        message,
      )
      if (lastAttempt) logger.error('Push failed after its last retry', errorFields(error))
      else
        logger.warn('Push failed; pg-boss retries it', {
          ...errorFields(error),
          retryCount: job.retryCount,
        })
      throw error
    }
  }

  /** Merges the unprocessed notifications of one resource, using the current version in HAPI. */
  async handleMerge(job: Job<MergeJobData>): Promise<void> {
    const { db, notifications, merge, fhir, clock } = this.#deps
    const { resourceType, resourceId } = job.data
    const logger = this.#deps.logger.child({
      jobId: job.id,
      queue: job.name,
      fhirId: `${resourceType}/${resourceId}`,
    })
    const started = performance.now()

    const pending = await notifications.listUnprocessed(db, resourceType, resourceId)
    if (pending.length === 0) return
    const retryAt = parkedRetryTime(pending)
    if (retryAt !== null && retryAt > clock.now()) {
      // Only parked notifications whose next try is still ahead: this job is an extra one (the
      // receiver sends each job twice), and merging now would use up the backoff steps. The
      // delayed job is sent again in case the stately queue dropped it beside this one.
      const delaySeconds = Math.ceil((retryAt.getTime() - clock.now().getTime()) / 1000)
      await sendDelayedMergeJob(this.#deps.queue, job.data, delaySeconds)
      return
    }

    // The delivery is only a hint, because its body may be an old version, arrive out of order or
    // not come from HAPI at all. So the merge works on the current version in HAPI.
    const current = await fhir.read<Resource & { resourceType: typeof resourceType }>(
      resourceType,
      resourceId,
    )
    const outcome = current
      ? await this.#apply(current, job.id)
      : await merge.applyDeletion(resourceType, resourceId, job.id)
    if (isParked(outcome)) {
      await this.#park(job, pending, outcome, logger)
      return
    }

    await notifications.markProcessed(
      db,
      pending.map((notification) => notification.id),
      outcome,
      clock.now(),
    )
    logger.info('FHIR change merged', {
      outcome,
      notifications: pending.length,
      durationMs: Math.round(performance.now() - started),
    })
  }

  /**
   * Keeps the notifications of a merge that cannot finish yet (a Condition whose subject is not
   * resolvable) and merges them again after the next delay of the schedule. After the last one
   * they are marked unresolved for an operator. The job itself succeeds, because pg-boss would
   * retry a failed one at once.
   */
  async #park(
    job: Job<MergeJobData>,
    pending: readonly NotificationRow[],
    outcome: ParkedOutcome,
    logger: Logger,
  ): Promise<void> {
    const { db, notifications, queue, clock } = this.#deps
    const ids = pending.map((notification) => notification.id)
    const reason = outcome.slice(PARKED_PREFIX.length)
    const attempts = Math.max(0, ...pending.map((notification) => notification.attempts))
    const delaySeconds = parkedMergeRetryDelaySeconds(attempts)

    if (delaySeconds === null) {
      await notifications.markUnresolved(db, ids, reason, clock.now())
      logger.error('FHIR change left unresolved after its last retry', {
        reason,
        attempts: attempts + 1,
        notifications: ids.length,
      })
      return
    }
    // A plain transaction: the delayed job needs no second send after commit, because this job is
    // still active and the stately queue accepts one waiting job of the key beside it.
    await db.transaction().execute(async (trx) => {
      await notifications.park(
        trx,
        ids,
        reason,
        new Date(clock.now().getTime() + delaySeconds * 1000),
      )
      await sendDelayedMergeJob(queue, job.data, delaySeconds, trx)
    })
    logger.warn('FHIR change parked', {
      reason,
      attempt: attempts + 1,
      retryInSeconds: delaySeconds,
    })
  }

  async #apply(resource: Resource, jobId: string): Promise<MergeOutcome> {
    const { merge } = this.#deps
    if (resource.resourceType === 'Patient') return merge.applyPatient(resource, jobId)
    if (resource.resourceType === 'Condition') return merge.applyCondition(resource, jobId)
    throw new Error(
      `Cannot merge a ${resource.resourceType}; only Patient and Condition are synced`,
    )
  }
}
