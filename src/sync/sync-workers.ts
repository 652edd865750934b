import type { Resource } from '@medplum/fhirtypes'
import type { Job } from 'pg-boss'
import type { Kysely } from 'kysely'
import { FhirRequestError, type FhirClient } from '../fhir/fhir-client.ts'
import type { Clock } from '../platform/clock.ts'
import type { Database } from '../platform/db.ts'
import { errorFields, type Logger } from '../platform/logger.ts'
import {
  QUEUES,
  type EntityType,
  mergeSingletonKey,
  parkedMergeRetryDelaySeconds,
  pushSingletonKey,
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
import type { DriftService } from './drift.service.ts'
import type { OutboundPush } from './outbound-push.ts'
import type { BatchResult, PushBatch } from './push-batch.ts'
import { classifyPushFailure, pushRetryDelaySeconds } from './push-failures.ts'

/**
 * Receives the duration of each push and merge a worker runs, with its entity type and outcome:
 * the push or merge outcome, `retry` when a later try is scheduled, or `failed` when the job went
 * to the dead letters.
 */
export interface SyncMetrics {
  observePush(entityType: EntityType, outcome: string, seconds: number): void
  observeMerge(entityType: EntityType, outcome: string, seconds: number): void
}

export interface SyncWorkersDeps {
  db: Kysely<Database>
  queue: PgBossQueue
  notifications: NotificationRepository
  merge: InboundMerge
  push: OutboundPush
  fhir: FhirClient
  clock: Clock
  logger: Logger
  /** Merge jobs run at once. */
  concurrency: number
  /** Push batches run at once. */
  pushConcurrency: number
  /** Tries of one push before its row is marked failed. */
  pushRetryLimit: number
  /** Push jobs taken at once and written as one transaction Bundle where they can be. */
  pushBatchSize: number
  batch: PushBatch
  /** Runs the drift catch-up and verification jobs and keeps them scheduled. */
  drift: Pick<DriftService, 'startWorker'>
  metrics: SyncMetrics
}

/** Merge jobs a worker fetches at once; they run one after another. */
const MERGE_BATCH_SIZE = 10

/** HAPI keeps at most 16 characters of X-Request-ID in meta.source, letters and digits are safe. */
function fhirRequestId(jobId: string): string {
  return jobId.replaceAll('-', '').slice(0, 16)
}

function secondsSince(started: number): number {
  return (performance.now() - started) / 1000
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
    const { queue, concurrency, pushConcurrency } = this.#deps
    await queue.workBatch(QUEUES.fhirPush, pushConcurrency, this.#deps.pushBatchSize, (jobs) =>
      this.handlePushBatch(jobs),
    )
    await queue.workEach(QUEUES.fhirMerge, concurrency, MERGE_BATCH_SIZE, (job) =>
      this.handleMerge(job),
    )
    await this.#deps.drift.startWorker()
  }

  /**
   * Pushes one registry row. A failure that may pass schedules the next try as a delayed job of
   * the row's key, waiting by backoff with jitter or as long as HAPI's Retry-After requests. The
   * row stays `pending` meanwhile. After the last try, or at once for a failure that retrying cannot
   * fix, the row is marked `failed` and the job goes to the dead letters. Either way the state
   * and the job are written in one transaction, so a crash cannot leave a row without its retry.
   */
  async handlePush(job: Job<PushJobData>): Promise<void> {
    const { entityType, entityId } = job.data
    const attempt = job.data.attempt ?? 1
    const logger = this.#deps.logger.child({
      jobId: job.id,
      queue: job.name,
      entityType,
      entityId,
      attempt,
    })
    const started = performance.now()
    try {
      const outcome = await this.#deps.push.push(job.data, fhirRequestId(job.id))
      logger.info('Row pushed to FHIR', {
        outcome,
        durationMs: Math.round(performance.now() - started),
      })
      this.#deps.metrics.observePush(entityType, outcome, secondsSince(started))
    } catch (error) {
      const outcome = await this.#handlePushFailure(job.data, attempt, error, logger)
      this.#deps.metrics.observePush(entityType, outcome, secondsSince(started))
    }
  }

  /**
   * Pushes a batch of rows, as one transaction Bundle where it can, and handles each row's
   * failure as a single push would, so one row's retry or dead letter never touches the others.
   */
  async handlePushBatch(jobs: Job<PushJobData>[]): Promise<void> {
    const [first] = jobs
    if (first === undefined) return
    if (jobs.length === 1) {
      await this.handlePush(first)
      return
    }

    const logger = this.#deps.logger.child({ jobId: first.id, queue: first.name })
    const started = performance.now()
    let results: BatchResult[]
    try {
      results = await this.#deps.batch.push(
        jobs.map((job) => job.data),
        fhirRequestId(first.id),
      )
    } catch (error) {
      // Such as the database failing while the batch was prepared: each row then takes the single
      // push, whose failures are handled row by row.
      logger.warn('Push batch failed; pushing its rows one by one', errorFields(error))
      for (const job of jobs) await this.handlePush(job)
      return
    }
    const seconds = secondsSince(started)
    for (const result of results) {
      if ('error' in result) {
        const { entityType, entityId } = result.job
        const attempt = result.job.attempt ?? 1
        const outcome = await this.#handlePushFailure(
          result.job,
          attempt,
          result.error,
          logger.child({ entityType, entityId, attempt }),
        )
        this.#deps.metrics.observePush(entityType, outcome, seconds)
      } else {
        this.#deps.metrics.observePush(result.job.entityType, result.outcome, seconds)
      }
    }
    logger.info('Rows pushed to FHIR', {
      rows: jobs.length,
      inBundle: results.filter(
        (result) => 'outcome' in result && result.outcome === 'pushed-in-bundle',
      ).length,
      failed: results.filter((result) => 'error' in result).length,
      durationMs: Math.round(performance.now() - started),
    })
  }

  async #handlePushFailure(
    data: PushJobData,
    attempt: number,
    error: unknown,
    logger: Logger,
  ): Promise<'failed' | 'retry'> {
    const { db, queue, pushRetryLimit } = this.#deps
    const table = data.entityType === 'patient' ? 'patients' : 'conditions'
    const failure = classifyPushFailure(error, attempt, pushRetryLimit, Math.random)
    const status = error instanceof FhirRequestError ? error.status : undefined

    if (failure.kind === 'dead') {
      await db.transaction().execute(async (trx) => {
        await recordSyncFailure(trx, table, data.entityId, 'failed', failure.reason)
        await queue.sendDeadPush(
          {
            entityType: data.entityType,
            entityId: data.entityId,
            attempt,
            error: failure.reason,
            failedAt: this.#deps.clock.now().toISOString(),
          },
          trx,
        )
      })
      logger.error('Push failed for good; row marked failed', { ...errorFields(error), status })
      return 'failed'
    }

    // This job is still active, so the stately queue takes the delayed job as the key's one
    // waiting job. If a registry edit already waits there, the send is dropped and that job,
    // which reads the row afresh, is the next try.
    await db.transaction().execute(async (trx) => {
      await recordSyncFailure(trx, table, data.entityId, 'pending', failure.reason)
      await queue.send(
        QUEUES.fhirPush,
        { entityType: data.entityType, entityId: data.entityId, attempt: attempt + 1 },
        { singletonKey: pushSingletonKey(data), startAfterSeconds: failure.delaySeconds },
        trx,
      )
    })
    logger.warn('Push failed; retrying later', {
      ...errorFields(error),
      status,
      retryInSeconds: failure.delaySeconds,
    })
    return 'retry'
  }

  /** Merges the unprocessed notifications of one resource, using the current version in HAPI. */
  async handleMerge(job: Job<MergeJobData>): Promise<void> {
    const started = performance.now()
    const entityType = job.data.resourceType === 'Patient' ? 'patient' : 'condition'
    let outcome: string
    try {
      outcome = await this.#merge(job)
    } catch (error) {
      outcome = await this.#handleMergeFailure(job, error)
    }
    this.#deps.metrics.observeMerge(entityType, outcome, secondsSince(started))
  }

  /**
   * Schedules the next try of a merge that failed, as a delayed job of its resource's key. After
   * the last try it puts the job in the dead letters instead. The notifications stay unprocessed,
   * so a later delivery or the drift catch-up merges the change. The job itself never fails,
   * because pg-boss 12 cannot queue a failed job's retry while its key already has a retry
   * waiting, and sends the job straight to the dead letters instead.
   */
  async #handleMergeFailure(job: Job<MergeJobData>, error: unknown): Promise<'failed' | 'retry'> {
    const { queue, pushRetryLimit } = this.#deps
    const attempt = job.data.attempt ?? 1
    const logger = this.#deps.logger.child({
      jobId: job.id,
      queue: job.name,
      fhirId: `${job.data.resourceType}/${job.data.resourceId}`,
      attempt,
    })
    const failure = classifyPushFailure(error, attempt, pushRetryLimit, Math.random)
    if (failure.kind === 'dead' && attempt >= pushRetryLimit) {
      await queue.sendDeadMerge({
        resourceType: job.data.resourceType,
        resourceId: job.data.resourceId,
        attempt,
        error: failure.reason,
        failedAt: this.#deps.clock.now().toISOString(),
      })
      logger.error('Merge failed for good; its notifications wait for the drift catch-up', {
        ...errorFields(error),
      })
      return 'failed'
    }

    // Every merge failure is retried until the limit: even a 4xx from HAPI may pass once the
    // resource changes, and a failing merge blocks nothing else.
    const delaySeconds =
      failure.kind === 'retry' ? failure.delaySeconds : pushRetryDelaySeconds(attempt, Math.random)
    await queue.send(
      QUEUES.fhirMerge,
      {
        resourceType: job.data.resourceType,
        resourceId: job.data.resourceId,
        attempt: attempt + 1,
      },
      { singletonKey: mergeSingletonKey(job.data), startAfterSeconds: delaySeconds },
    )
    logger.warn('Merge failed; retrying later', {
      ...errorFields(error),
      retryInSeconds: delaySeconds,
    })
    return 'retry'
  }

  /**
   * Returns the merge outcome for the metrics: `parked` with its reason dropped, `unresolved`,
   * `nothing-pending` when another job merged the notifications already, or `not-due` when all of
   * them wait for a later try.
   */
  async #merge(job: Job<MergeJobData>): Promise<string> {
    const { db, notifications, merge, fhir, clock } = this.#deps
    const { resourceType, resourceId } = job.data
    const logger = this.#deps.logger.child({
      jobId: job.id,
      queue: job.name,
      fhirId: `${resourceType}/${resourceId}`,
    })
    const started = performance.now()

    const pending = await notifications.listUnprocessed(db, resourceType, resourceId)
    if (pending.length === 0) return 'nothing-pending'
    const retryAt = parkedRetryTime(pending)
    if (retryAt !== null && retryAt > clock.now()) {
      // Only parked notifications whose next try is still ahead: this job is an extra one (a
      // receiver's repeat of a dropped send), and merging now would use up the backoff steps. The
      // delayed job is sent again in case the stately queue dropped it beside this one.
      const delaySeconds = Math.ceil((retryAt.getTime() - clock.now().getTime()) / 1000)
      await sendDelayedMergeJob(this.#deps.queue, job.data, delaySeconds)
      return 'not-due'
    }

    // The delivery is only a hint, because its body may be an old version, arrive out of order or
    // not come from HAPI at all. So the merge works on the current version in HAPI. The pending
    // notifications are listed before this read, because one stored after it may name a version
    // that the read lacks, and that one must stay unprocessed for its own job.
    const readStarted = performance.now()
    const current = await fhir.read<Resource & { resourceType: typeof resourceType }>(
      resourceType,
      resourceId,
    )
    const fhirReadMs = Math.round(performance.now() - readStarted)
    const outcome = current
      ? await this.#apply(current, job.id)
      : await merge.applyDeletion(resourceType, resourceId, job.id)
    if (isParked(outcome)) return this.#park(job, pending, outcome, logger)

    await notifications.markProcessed(
      db,
      pending.map((notification) => notification.id),
      outcome,
      clock.now(),
    )
    logger.info('FHIR change merged', {
      outcome,
      notifications: pending.length,
      fhirReadMs,
      durationMs: Math.round(performance.now() - started),
    })
    return outcome
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
  ): Promise<'parked' | 'unresolved'> {
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
      return 'unresolved'
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
    return 'parked'
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
