import { sql, type Kysely } from 'kysely'
import type { Job } from 'pg-boss'
import type { Clock } from '../platform/clock.ts'
import type { Config } from '../platform/config.ts'
import type { Database, DriftRequester, Executor } from '../platform/db.ts'
import { AppError, ConflictError } from '../platform/errors.ts'
import { errorFields, type Logger } from '../platform/logger.ts'
import { decodeCursor, toPage } from '../platform/paging.ts'
import type { DriftJobData, DriftKind } from '../platform/queue.ts'
import { SYNCED_RESOURCE_TYPES, pullsFromFhir } from '../platform/sync-modes.ts'
import type { DriftCatchUp } from './drift-catch-up.ts'
import type { DriftJobQueue } from './drift-jobs.ts'
import type { DriftVerification, VerificationProgress } from './drift-verification.ts'
import type { DriftFindingRow, DriftRepository, DriftRunRow } from './drift.repository.ts'
import type { DriftFinding, DriftRun } from './drift.schemas.ts'

/** Runs that ended this long ago are deleted, with their findings, after each run. */
const RUN_RETENTION_MS = 30 * 24 * 60 * 60 * 1000

/**
 * How often a worker checks that each scheduled kind has a job waiting. A job that died on its
 * last retry, as by SIGKILL, goes to the dead letters and schedules no next run, so without this
 * check its kind would stop until the next start.
 */
const SCHEDULE_CHECK_INTERVAL_MS = 60_000

export const DRIFT_KINDS = ['catch-up', 'verification'] as const satisfies readonly DriftKind[]

/** Seconds between scheduled runs of each kind; 0 means no schedule. */
export type DriftSchedule = Record<DriftKind, number>

/**
 * Returns the drift schedule of the configuration. Catch-up runs every POLLING_INTERVAL_SECONDS
 * while a pulled type has no Subscription (trigger `polling`), else every
 * DRIFT_CATCHUP_INTERVAL_SECONDS, and not at all when no type is pulled from FHIR.
 */
export function driftScheduleOf(config: Config): DriftSchedule {
  const pulled = SYNCED_RESOURCE_TYPES.filter((type) => pullsFromFhir(config.syncModes[type]))
  const polling = pulled.some((type) => config.syncModes[type].trigger === 'polling')
  return {
    'catch-up':
      pulled.length === 0
        ? 0
        : polling
          ? config.POLLING_INTERVAL_SECONDS
          : config.DRIFT_CATCHUP_INTERVAL_SECONDS,
    verification: config.DRIFT_VERIFY_INTERVAL_SECONDS,
  }
}

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
  #scheduleTimer: NodeJS.Timeout | undefined

  constructor(deps: DriftServiceDeps) {
    this.#deps = deps
  }

  /**
   * Queues a run of `kind` that starts now. While a requested run of that kind waits or runs, it
   * raises 409 `DRIFT_RUN_ACTIVE` with that run's id in `runId`. A scheduled run does not count,
   * because the new run simply waits behind it.
   */
  async requestRun(kind: DriftKind, requestedBy: Exclude<DriftRequester, 'schedule'>) {
    return this.#withRequestLock(kind, async (trx) => {
      for (const active of await this.#deps.drift.listActive(trx, kind)) {
        if (active.requested_by === 'schedule') continue
        if (await this.#keepAlive(trx, active)) {
          throw new ConflictError(
            'DRIFT_RUN_ACTIVE',
            `A ${kind} run (${active.id}) is ${active.status}; wait until it finishes`,
            { runId: active.id },
          )
        }
      }
      return this.#queueRun(trx, kind, requestedBy)
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
      if (waiting && (await this.#keepAlive(trx, waiting))) {
        return { run: toDriftRun(waiting), queued: false }
      }
      return { run: await this.#queueRun(trx, 'catch-up', 'rest-hook'), queued: true }
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
    const rows = await drift.listFindings(db, runId, query.limit + 1, decodeCursor(query.cursor))
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
    await this.#ensureScheduled()
    this.#scheduleTimer = setInterval(() => {
      void this.#ensureScheduled()
    }, SCHEDULE_CHECK_INTERVAL_MS)
    this.#scheduleTimer.unref()
  }

  stopWorker(): void {
    clearInterval(this.#scheduleTimer)
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
      await this.#scheduleNext(kind, logger)
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
    await this.#failAbandoned(kind, run.id, logger)
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

    await this.#scheduleNext(kind, logger)
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

  /**
   * Marks the kind's other running runs failed. This job has the kind's one active slot, so no
   * worker runs them any more: their worker died and pg-boss gave up on its job.
   */
  async #failAbandoned(kind: DriftKind, currentId: string, logger: Logger): Promise<void> {
    const { db, drift, clock } = this.#deps
    for (const run of await drift.listActive(db, kind)) {
      if (run.id === currentId || run.status !== 'running') continue
      await drift.recordFailure(db, run.id, {
        status: 'failed',
        error: 'The worker running it stopped, and its job was not retried',
        now: clock.now(),
      })
      logger.warn('Abandoned drift run marked failed', { runId: run.id })
    }
  }

  /** Queues the next run of the kind: a queued requested run now, else the scheduled one. */
  async #scheduleNext(kind: DriftKind, logger: Logger): Promise<void> {
    const { db, drift, jobs } = this.#deps
    const queued = (await drift.listActive(db, kind)).find((run) => run.status === 'queued')
    if (queued) {
      const jobId = await jobs.send({ kind, runId: queued.id }, {})
      if (jobId !== null) await drift.setJob(db, queued.id, jobId)
      return
    }
    const seconds = this.#deps.schedule[kind]
    if (seconds === 0) return
    await jobs.send({ kind }, { startAfterSeconds: seconds })
    logger.debug('Next drift run scheduled', { startAfterSeconds: seconds })
  }

  /**
   * Gives each kind a job when none waits or runs: for its oldest queued run, else the
   * scheduled run, due one interval after the last finished run. Runs left `running` by a job
   * pg-boss gave up on are marked failed on the way. Two processes may do this at once; the
   * singleton key keeps one job.
   */
  async #ensureScheduled(): Promise<void> {
    const { db, drift, jobs, clock, logger } = this.#deps
    try {
      for (const kind of DRIFT_KINDS) {
        if (await this.#hasLiveJob(kind)) continue
        const active = await drift.listActive(db, kind)
        for (const run of active.filter((candidate) => candidate.status === 'running')) {
          await drift.recordFailure(db, run.id, {
            status: 'failed',
            error: 'The worker running it stopped, and its job was not retried',
            now: clock.now(),
          })
          logger.warn('Abandoned drift run marked failed', { runId: run.id, kind })
        }
        const queued = active.find((run) => run.status === 'queued')
        if (queued) {
          const jobId = await jobs.send({ kind, runId: queued.id }, {})
          if (jobId !== null) await drift.setJob(db, queued.id, jobId)
          continue
        }
        const seconds = this.#deps.schedule[kind]
        if (seconds === 0) continue
        const last = await drift.lastFinished(db, kind)
        const elapsedSeconds = last?.finished_at
          ? (clock.now().getTime() - last.finished_at.getTime()) / 1000
          : Number.POSITIVE_INFINITY
        const startAfterSeconds = Math.max(0, Math.ceil(seconds - elapsedSeconds))
        await jobs.send({ kind }, { startAfterSeconds })
        logger.info('Drift run scheduled', { kind, startAfterSeconds })
      }
    } catch (error) {
      logger.error('Drift schedule check failed', errorFields(error))
    }
  }

  /** True when a job of the kind waits, or the job of one of its running runs is still alive. */
  async #hasLiveJob(kind: DriftKind): Promise<boolean> {
    const { db, drift, jobs } = this.#deps
    if ((await jobs.listWaiting(kind)).length > 0) return true
    for (const run of await drift.listActive(db, kind)) {
      if (run.status === 'running' && run.job_id && (await jobs.stateOf(run.job_id)) === 'active') {
        return true
      }
    }
    return false
  }

  /**
   * Returns true when an active run will still run or finish. A running run whose job pg-boss
   * gave up on is marked failed. A queued run without a live job, as after a lost send, gets a
   * new one.
   */
  async #keepAlive(trx: Executor, run: DriftRunRow): Promise<boolean> {
    const { drift, jobs, clock, logger } = this.#deps
    const state = run.job_id ? await jobs.stateOf(run.job_id) : null
    if (state === 'created' || state === 'retry' || state === 'active') return true
    if (run.status === 'running') {
      await drift.recordFailure(trx, run.id, {
        status: 'failed',
        error: 'The worker running it stopped, and its job was not retried',
        now: clock.now(),
      })
      logger.warn('Abandoned drift run marked failed', { runId: run.id, kind: run.kind })
      return false
    }
    if (!(await this.#hasLiveJob(run.kind))) {
      const jobId = await jobs.send({ kind: run.kind, runId: run.id }, {}, trx)
      if (jobId !== null) await drift.setJob(trx, run.id, jobId)
    }
    return true
  }

  /** Inserts a queued run and sends its job, replacing a scheduled job that waits. */
  async #queueRun(trx: Executor, kind: DriftKind, requestedBy: DriftRequester): Promise<DriftRun> {
    const { drift, jobs, clock } = this.#deps
    const run = await drift.insertRun(trx, {
      kind,
      status: 'queued',
      requestedBy,
      jobId: null,
      now: clock.now(),
    })
    // The stately queue keeps one waiting job per kind, and a scheduled job, delayed or not,
    // would take that place; the new job replaces it. When pg-boss still drops the send, the
    // job that waits takes this run when it starts, as it takes the oldest queued run.
    const scheduled = (await jobs.listWaiting(kind)).filter((job) => job.runId === undefined)
    await jobs.cancel(scheduled.map((job) => job.id))
    const jobId = await jobs.send({ kind, runId: run.id }, {}, trx)
    if (jobId !== null) await drift.setJob(trx, run.id, jobId)
    return toDriftRun({ ...run, job_id: jobId })
  }

  /** Runs `work` in a transaction that holds the kind's request lock, so requests queue one run. */
  async #withRequestLock<T>(kind: DriftKind, work: (trx: Executor) => Promise<T>): Promise<T> {
    return this.#deps.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext(${`drift-request:${kind}`}))`.execute(trx)
      return work(trx)
    })
  }
}
