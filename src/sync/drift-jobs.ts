import { fromKysely, type Job } from 'pg-boss'
import type { Executor } from '../platform/db.ts'
import { QUEUES, type DriftJobData, type DriftKind, type PgBossQueue } from '../platform/queue.ts'

/**
 * Seconds a drift job may stay active before pg-boss fails it. The pg-boss default of 15 minutes
 * is too short for a verification of a large registry. The queue's heartbeat still notices a
 * dead worker within about 20 s, so this only bounds a run that hangs.
 */
const DRIFT_JOB_EXPIRE_SECONDS = 6 * 60 * 60

export type DriftJobState = 'created' | 'retry' | 'active' | 'completed' | 'cancelled' | 'failed'

/** A drift job that waits to start. */
export interface WaitingDriftJob {
  id: string
  runId: string | undefined
  startAfter: Date
}

/** The drift job's queue: one singleton key per kind, so runs of one kind never overlap. */
export interface DriftJobQueue {
  /**
   * Sends a job of the kind, inside the caller's transaction when one is given. Returns null
   * when pg-boss dropped it because a job of the kind already waits.
   */
  send(
    data: DriftJobData,
    options: { startAfterSeconds?: number },
    executor?: Executor,
  ): Promise<string | null>
  /** Lists the jobs of the kind that wait, delayed or not. */
  listWaiting(kind: DriftKind): Promise<WaitingDriftJob[]>
  cancel(ids: readonly string[]): Promise<void>
  /** Returns the state of a job, or null when pg-boss no longer has it. */
  stateOf(jobId: string): Promise<DriftJobState | null>
  work(concurrency: number, handler: (job: Job<DriftJobData>) => Promise<void>): Promise<void>
}

/** The drift job queue on pg-boss. */
export class PgBossDriftJobs implements DriftJobQueue {
  readonly #queue: PgBossQueue

  constructor(queue: PgBossQueue) {
    this.#queue = queue
  }

  async send(
    data: DriftJobData,
    options: { startAfterSeconds?: number },
    executor?: Executor,
  ): Promise<string | null> {
    return this.#queue.boss.send(QUEUES.syncDrift, data, {
      singletonKey: data.kind,
      expireInSeconds: DRIFT_JOB_EXPIRE_SECONDS,
      ...(options.startAfterSeconds === undefined ? {} : { startAfter: options.startAfterSeconds }),
      ...(executor ? { db: fromKysely(executor) } : {}),
    })
  }

  async listWaiting(kind: DriftKind): Promise<WaitingDriftJob[]> {
    const jobs = await this.#queue.boss.findJobs<DriftJobData>(QUEUES.syncDrift, {
      key: kind,
      queued: true,
    })
    return jobs.map((job) => ({ id: job.id, runId: job.data.runId, startAfter: job.startAfter }))
  }

  async cancel(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return
    await this.#queue.boss.cancel(QUEUES.syncDrift, [...ids])
  }

  async stateOf(jobId: string): Promise<DriftJobState | null> {
    const [job] = await this.#queue.boss.findJobs(QUEUES.syncDrift, { id: jobId })
    return job?.state ?? null
  }

  async work(concurrency: number, handler: (job: Job<DriftJobData>) => Promise<void>) {
    await this.#queue.work(QUEUES.syncDrift, concurrency, handler)
  }
}
