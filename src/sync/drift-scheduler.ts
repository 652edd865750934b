import type { Kysely } from 'kysely'
import type { Clock } from '../platform/clock.ts'
import type { Config } from '../platform/config.ts'
import type { Database, DriftRequester, Executor } from '../platform/db.ts'
import { errorFields, type Logger } from '../platform/logger.ts'
import type { DriftKind } from '../platform/queue.ts'
import { SYNCED_RESOURCE_TYPES, pullsFromFhir } from '../platform/sync-modes.ts'
import type { DriftJobQueue } from './drift-jobs.ts'
import type { DriftRepository, DriftRunRow } from './drift.repository.ts'

/**
 * How often a worker checks that each scheduled kind has a job waiting. A job that died on its
 * last retry, as by SIGKILL, goes to the dead letters and schedules no next run, so without this
 * check its kind would stop until the next start.
 */
const SCHEDULE_CHECK_INTERVAL_MS = 60_000

/** Error recorded on a run whose worker died and whose job pg-boss gave up on. */
const ABANDONED_RUN_ERROR = 'The worker running it stopped, and its job was not retried'

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

export interface DriftSchedulerDeps {
  db: Kysely<Database>
  drift: DriftRepository
  jobs: DriftJobQueue
  clock: Clock
  logger: Logger
  schedule: DriftSchedule
}

/**
 * Keeps one job per drift kind queued: a job for each requested run, and the scheduled run
 * after each one. It also finds runs whose job died, and fails them or gives them a new job.
 */
export class DriftScheduler {
  readonly #deps: DriftSchedulerDeps
  #timer: NodeJS.Timeout | undefined

  constructor(deps: DriftSchedulerDeps) {
    this.#deps = deps
  }

  /** Gives each scheduled kind a job now, and checks again every minute. */
  async start(): Promise<void> {
    await this.ensureScheduled()
    this.#timer = setInterval(() => {
      void this.ensureScheduled()
    }, SCHEDULE_CHECK_INTERVAL_MS)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
  }

  /** Inserts a queued run and sends its job, replacing a scheduled job that waits. */
  async queueRun(
    trx: Executor,
    kind: DriftKind,
    requestedBy: DriftRequester,
  ): Promise<DriftRunRow> {
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
    return { ...run, job_id: jobId }
  }

  /**
   * Returns true when an active run will still run or finish. A running run whose job pg-boss
   * gave up on is marked failed. A queued run without a live job, as after a lost send, gets a
   * new one.
   */
  async keepAlive(trx: Executor, run: DriftRunRow): Promise<boolean> {
    const { drift, jobs, clock, logger } = this.#deps
    const state = run.job_id ? await jobs.stateOf(run.job_id) : null
    if (state === 'created' || state === 'retry' || state === 'active') return true
    if (run.status === 'running') {
      await drift.recordFailure(trx, run.id, {
        status: 'failed',
        error: ABANDONED_RUN_ERROR,
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

  /**
   * Marks the kind's other running runs failed. The calling job has the kind's one active slot,
   * so no worker runs them any more: their worker died and pg-boss gave up on its job.
   */
  async failAbandoned(kind: DriftKind, currentId: string, logger: Logger): Promise<void> {
    const { db, drift, clock } = this.#deps
    for (const run of await drift.listActive(db, kind)) {
      if (run.id === currentId || run.status !== 'running') continue
      await drift.recordFailure(db, run.id, {
        status: 'failed',
        error: ABANDONED_RUN_ERROR,
        now: clock.now(),
      })
      logger.warn('Abandoned drift run marked failed', { runId: run.id })
    }
  }

  /** Queues the next run of the kind: a queued requested run now, else the scheduled one. */
  async scheduleNext(kind: DriftKind, logger: Logger): Promise<void> {
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
   * pg-boss gave up on are marked failed on the way. Two processes may do this at once, and
   * the singleton key keeps one job.
   */
  async ensureScheduled(): Promise<void> {
    const { db, drift, jobs, clock, logger } = this.#deps
    try {
      for (const kind of DRIFT_KINDS) {
        if (await this.#hasLiveJob(kind)) continue
        const active = await drift.listActive(db, kind)
        for (const run of active.filter((candidate) => candidate.status === 'running')) {
          await drift.recordFailure(db, run.id, {
            status: 'failed',
            error: ABANDONED_RUN_ERROR,
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

  /** Returns true when a job of the kind waits, or the job of a running run is still active. */
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
}
