import { sql, type Kysely } from 'kysely'
import type { Job } from 'pg-boss'
import type { Clock } from '../platform/clock.ts'
import type { Database, DriftRequester, Executor } from '../platform/db.ts'
import { AppError, ConflictError } from '../platform/errors.ts'
import { errorFields, type Logger } from '../platform/logger.ts'
import { BIGINT_ID, decodeCursor, toPage } from '../platform/paging.ts'
import type { DriftJobData, DriftKind } from '../platform/queue.ts'
import type { DriftCatchUp } from './drift-catch-up.ts'
import type { DriftJobQueue } from './drift-jobs.ts'
import { DriftScheduler, type DriftSchedule } from './drift-scheduler.ts'
import type { DriftVerification, VerificationProgress } from './drift-verification.ts'
import type { DriftFindingRow, DriftRepository, DriftRunRow } from './drift.repository.ts'
import type { DriftFinding, DriftRun } from './drift.schemas.ts'

/** Runs that ended this long ago are deleted, with their findings, after each run. */
const RUN_RETENTION_MS = 30 * 24 * 60 * 60 * 1000

/** The last run of each kind and the catch-up cursors, for the sync status. */
export type DriftSummary = {
  'catch-up': { lastRun: DriftRun | null; cursors: DriftCursorView[] }
  verification: { lastRun: DriftRun | null }
}

export type DriftCursorView = { resourceType: string; cursor: string; updatedAt: string }

export interface DriftServiceDeps {
  db: Kysely<Database>
  drift: DriftRepository
  jobs: DriftJobQueue
  catchUp: DriftCatchUp
  verification: DriftVerification
  clock: Clock
  logger: Logger
  schedule: DriftSchedule
  /** Retries pg-boss gives a failed drift job (the queue's retry limit). */
  retryLimit: number
}

/** Converts a run row to its API representation. */
export function toDriftRun(row: DriftRunRow): DriftRun {
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    requestedBy: row.requested_by,
    createdAt: row.created_at.toISOString(),
    startedAt: row.started_at?.toISOString() ?? null,
    finishedAt: row.finished_at?.toISOString() ?? null,
    cursorFrom: row.cursor_from?.toISOString() ?? null,
    cursorTo: row.cursor_to?.toISOString() ?? null,
    counts: row.counts,
    error: row.error,
  }
}

function toDriftFinding(row: DriftFindingRow): DriftFinding {
  return {
    id: row.id,
    entityType: row.entity_type,
    entityId: row.entity_id,
    fhirId: row.fhir_id,
    kind: row.kind,
    fields: row.fields,
    action: row.action,
    registryFhirVersionId: row.registry_fhir_version_id,
    fhirVersionId: row.fhir_version_id,
    fhirStatus: row.fhir_status,
    createdAt: row.created_at.toISOString(),
  }
}

function runNotFound(id: string): AppError {
  return new AppError(404, 'DRIFT_RUN_NOT_FOUND', `Drift run ${id} was not found`)
}

/**
 * Starts drift runs on request and on a schedule, runs them as pg-boss jobs, and reports them.
 * Runs of one kind never overlap, because all jobs of a kind share one singleton key.
 */
export class DriftService {
  readonly #deps: DriftServiceDeps
  readonly #scheduler: DriftScheduler

  constructor(deps: DriftServiceDeps) {
    this.#deps = deps
    this.#scheduler = new DriftScheduler(deps)
  }

  /**
   * Queues a run of `kind` that starts now. While a requested run of that kind waits or runs, it
   * raises 409 `DRIFT_RUN_ACTIVE` with that run's id in `runId`. A scheduled run does not count,
   * because the new run simply waits behind it.
   */
  async requestRun(
    kind: DriftKind,
    requestedBy: Exclude<DriftRequester, 'schedule'>,
  ): Promise<DriftRun> {
    return this.#withRequestLock(kind, async (trx) => {
      for (const active of await this.#deps.drift.listActive(trx, kind)) {
        if (active.requested_by === 'schedule') continue
        if (await this.#scheduler.keepAlive(trx, active)) {
          throw new ConflictError(
            'DRIFT_RUN_ACTIVE',
            `A ${kind} run (${active.id}) is ${active.status}; wait until it finishes`,
            { runId: active.id },
          )
        }
      }
      return toDriftRun(await this.#scheduler.queueRun(trx, kind, requestedBy))
    })
  }

  /**
   * Makes sure a catch-up run starts soon, as after an empty rest-hook POST, which names no
   * resource. A catch-up that has not started yet covers the change too, so it is returned
   * instead of queueing another.
   */
  async requestCatchUp(): Promise<{ run: DriftRun; queued: boolean }> {
    return this.#withRequestLock('catch-up', async (trx) => {
      const active = await this.#deps.drift.listActive(trx, 'catch-up')
      const waiting = active.find((run) => run.status === 'queued')
      if (waiting && (await this.#scheduler.keepAlive(trx, waiting))) {
        return { run: toDriftRun(waiting), queued: false }
      }
      const run = await this.#scheduler.queueRun(trx, 'catch-up', 'rest-hook')
      return { run: toDriftRun(run), queued: true }
    })
  }

  async getRun(id: string): Promise<DriftRun> {
    const row = await this.#deps.drift.findRun(this.#deps.db, id)
    if (!row) throw runNotFound(id)
    return toDriftRun(row)
  }

  /** Lists runs newest first. */
  async listRuns(query: { kind?: DriftKind; limit: number }): Promise<{ items: DriftRun[] }> {
    const rows = await this.#deps.drift.listRuns(this.#deps.db, query.kind, query.limit)
    return { items: rows.map(toDriftRun) }
  }

  /** Lists a run's findings in the order they were found, one page at a time. */
  async listFindings(
    runId: string,
    query: { limit: number; cursor?: string },
  ): Promise<{ items: DriftFinding[]; nextCursor: string | null }> {
    const { db, drift } = this.#deps
    if (!(await drift.findRun(db, runId))) throw runNotFound(runId)
    const rows = await drift.listFindings(
      db,
      runId,
      query.limit + 1,
      decodeCursor(query.cursor, BIGINT_ID),
    )
    return toPage(rows, query.limit, toDriftFinding)
  }

  /** Returns the last run of each kind and the catch-up cursors. */
  async summary(): Promise<DriftSummary> {
    const { db, drift } = this.#deps
    const [catchUp] = await drift.listRuns(db, 'catch-up', 1)
    const [verification] = await drift.listRuns(db, 'verification', 1)
    const cursors = await drift.listCursors(db)
    return {
      'catch-up': {
        lastRun: catchUp ? toDriftRun(catchUp) : null,
        cursors: cursors.map((cursor) => ({
          resourceType: cursor.resource_type,
          cursor: cursor.cursor.toISOString(),
          updatedAt: cursor.updated_at.toISOString(),
        })),
      },
      verification: { lastRun: verification ? toDriftRun(verification) : null },
    }
  }

  /** Starts the drift worker, gives each scheduled kind a job, and keeps checking that. */
  async startWorker(): Promise<void> {
    await this.#deps.jobs.work(2, (job) => this.handleJob(job))
    await this.#scheduler.start()
  }

  stopWorker(): void {
    this.#scheduler.stop()
  }

  /**
   * Runs the drift job: the run it names, or the run a retry of this job began, or the oldest
   * queued run of its kind, or a new scheduled run. A retry after the worker died resumes its
   * run; all of a run's repairs go through idempotent paths, so doing a page twice is harmless.
   */
  async handleJob(job: Job<DriftJobData>): Promise<void> {
    const { db, drift, clock } = this.#deps
    const { kind } = job.data
    const logger = this.#deps.logger.child({ jobId: job.id, queue: job.name, kind })
    const started = performance.now()

    const found = job.data.runId
      ? await drift.findRun(db, job.data.runId)
      : ((await drift.findRunByJob(db, job.id)) ??
        (await drift.listActive(db, kind)).find((run) => run.status === 'queued'))
    if (found?.status === 'finished' || found?.status === 'failed') {
      logger.info('Drift job skipped; its run has ended', { runId: found.id, status: found.status })
      await this.#scheduler.scheduleNext(kind, logger)
      return
    }
    const run = found
      ? await drift.markRunning(db, found.id, job.id, clock.now())
      : await drift.insertRun(db, {
          kind,
          status: 'running',
          requestedBy: 'schedule',
          jobId: job.id,
          now: clock.now(),
        })
    await this.#scheduler.failAbandoned(kind, run.id, logger)
    const runLogger = logger.child({ runId: run.id })
    if (run.attempts > 1) runLogger.info('Drift run resumed', { attempt: run.attempts })

    try {
      await this.#execute(run, runLogger)
      runLogger.info('Drift run finished', {
        durationMs: Math.round(performance.now() - started),
      })
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      const lastAttempt = job.retryCount >= this.#deps.retryLimit
      await drift.recordFailure(db, run.id, {
        status: lastAttempt ? 'failed' : 'queued',
        error: message,
        now: clock.now(),
      })
      if (!lastAttempt) {
        runLogger.warn('Drift run failed; pg-boss retries it', {
          ...errorFields(error),
          retryCount: job.retryCount,
        })
        throw error
      }
      runLogger.error('Drift run failed after its last retry', errorFields(error))
    }

    await this.#scheduler.scheduleNext(kind, logger)
    const pruned = await drift.deleteEndedBefore(
      db,
      new Date(clock.now().getTime() - RUN_RETENTION_MS),
    )
    if (pruned > 0) logger.info('Old drift runs deleted', { runs: pruned })
  }

  async #execute(run: DriftRunRow, logger: Logger): Promise<void> {
    const { db, drift, clock } = this.#deps
    if (run.kind === 'catch-up') {
      const result = await this.#deps.catchUp.run(run.id, logger)
      await drift.finishRun(db, run.id, {
        ...result,
        counts: { ...result.counts },
        now: clock.now(),
      })
      logger.info('Drift catch-up counts', { ...result.counts })
      return
    }
    const counts = await this.#deps.verification.run(
      run.id,
      { progress: run.progress as VerificationProgress | null, counts: run.counts },
      logger,
    )
    await drift.finishRun(db, run.id, {
      counts,
      cursorFrom: null,
      cursorTo: null,
      now: clock.now(),
    })
    logger.info('Drift verification counts', { ...counts })
  }

  /** Runs `work` in a transaction that holds the kind's request lock, so requests queue one run. */
  async #withRequestLock<T>(kind: DriftKind, work: (trx: Executor) => Promise<T>): Promise<T> {
    return this.#deps.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext(${`drift-request:${kind}`}))`.execute(trx)
      return work(trx)
    })
  }
}
