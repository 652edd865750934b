import { fromKysely, PgBoss, type Job, type JobResult, type QueuePolicy } from 'pg-boss'
import type { Kysely, Transaction } from 'kysely'
import type { Database, Executor } from './db.ts'
import { errorFields, withJobLogFields, type Logger } from './logger.ts'

/** Names of the pg-boss queues, with the data each job carries. */
export const QUEUES = {
  /** Writes one registry row to HAPI. */
  fhirPush: 'fhir-push',
  /** Push jobs that used up their retries, kept for an operator to replay. */
  fhirPushDead: 'fhir-push-dead',
  /** Merges the recorded notifications of one FHIR resource into the registry. */
  fhirMerge: 'fhir-merge',
  fhirMergeDead: 'fhir-merge-dead',
  /** Runs one drift catch-up or verification; the singleton key is the kind, so runs never overlap. */
  syncDrift: 'sync-drift',
  syncDriftDead: 'sync-drift-dead',
} as const

/** Dead-letter queues: jobs land there after their last retry and are never worked. */
export const DEAD_LETTER_QUEUES = [
  QUEUES.fhirPushDead,
  QUEUES.fhirMergeDead,
  QUEUES.syncDriftDead,
] as const

export type EntityType = 'patient' | 'condition'

export interface PushJobData {
  entityType: EntityType
  entityId: string
  /**
   * Number of this try of the push, from 1. Missing on a push a registry write sent, which is the
   * first try; a retry after a failure carries the next number.
   */
  attempt?: number
}

/** A push that failed for good, kept in the dead-letter queue for an operator to replay. */
export interface DeadPushJobData extends PushJobData {
  error: string
  failedAt: string
}

/**
 * Fetch priority of a push job: pg-boss fetches higher first, then older first. Patients go
 * before conditions, because a condition can go into a transaction Bundle only when its patient
 * is in FHIR or in the same Bundle. With a backlog fetched in creation order, a batch often held
 * conditions of a patient that another batch was writing, and wrote two Bundles of about 11 rows
 * where one of 20 would do.
 */
export function pushPriority(data: Pick<PushJobData, 'entityType'>): number {
  return data.entityType === 'patient' ? 1 : 0
}

/** Singleton key of the push jobs of one registry row. */
export function pushSingletonKey(data: Pick<PushJobData, 'entityType' | 'entityId'>): string {
  return `${data.entityType}:${data.entityId}`
}

export interface MergeJobData {
  resourceType: 'Patient' | 'Condition'
  resourceId: string
  /** Number of this try after a failed merge, from 2; missing on the first try. */
  attempt?: number
}

/** A merge that failed for good, kept in the dead-letter queue for an operator to look at. */
export interface DeadMergeJobData extends MergeJobData {
  error: string
  failedAt: string
}

export type DriftKind = 'catch-up' | 'verification'

export interface DriftJobData {
  kind: DriftKind
  /** Run row created when the run was requested through the admin API; absent for scheduled runs. */
  runId?: string
}

export interface JobDataByQueue {
  [QUEUES.fhirPush]: PushJobData
  [QUEUES.fhirMerge]: MergeJobData
  [QUEUES.syncDrift]: DriftJobData
}

export type QueueName = keyof JobDataByQueue

/** Options of one send. `startAfterSeconds` delays the job's start by that many seconds. */
export interface SendOptions {
  singletonKey: string
  startAfterSeconds?: number
}

/** Sends jobs, inside the caller's transaction when one is given. */
export interface JobQueue {
  send<Q extends QueueName>(
    queue: Q,
    data: JobDataByQueue[Q],
    options: SendOptions,
    executor?: Executor,
  ): Promise<string | null>
  /**
   * Starts now a job of the key that waits with a delay, so new work is not held behind it.
   * Returns true when it moved one.
   */
  startDelayedNow<Q extends QueueName>(
    queue: Q,
    data: JobDataByQueue[Q],
    singletonKey: string,
  ): Promise<boolean>
}

export interface QueueSettings {
  policy: QueuePolicy
  retryLimit: number
  retryDelaySeconds: number
  deadLetter: string
}

/**
 * Both working queues use the `stately` policy with a singleton key per entity or resource: at
 * most one job per key waits and one runs. So ten quick edits of a patient cost one push (the job
 * reads the row when it runs), and two pushes of one patient never race.
 */
export const QUEUE_SETTINGS: Record<QueueName, QueueSettings> = {
  [QUEUES.fhirPush]: {
    policy: 'stately',
    retryLimit: 8,
    retryDelaySeconds: 2,
    deadLetter: QUEUES.fhirPushDead,
  },
  [QUEUES.fhirMerge]: {
    policy: 'stately',
    retryLimit: 8,
    retryDelaySeconds: 2,
    deadLetter: QUEUES.fhirMergeDead,
  },
  [QUEUES.syncDrift]: {
    policy: 'stately',
    retryLimit: 2,
    retryDelaySeconds: 30,
    deadLetter: QUEUES.syncDriftDead,
  },
}

/**
 * Workers renew a heartbeat on each active job this often (pg-boss renews at half of it). A
 * job whose worker died, as by SIGKILL, is failed and retried once its heartbeat is this old and
 * the next supervision pass runs.
 */
const HEARTBEAT_SECONDS = 10

/** How often pg-boss looks for jobs whose heartbeat stopped; its default is 60 s. */
const SUPERVISE_INTERVAL_SECONDS = 10

/** Lets at most `size` tasks run at once, and the others wait in the order they came. */
class Slots {
  #free: number
  readonly #waiting: (() => void)[] = []

  constructor(size: number) {
    this.#free = size
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--
    else await new Promise<void>((resolve) => this.#waiting.push(resolve))
    try {
      return await task()
    } finally {
      // A freed slot goes straight to the next waiting task, so none can overtake it.
      const next = this.#waiting.shift()
      if (next) next()
      else this.#free++
    }
  }
}

/** pg-boss behind the small `JobQueue` interface, plus the worker side used by the sync wing. */
export class PgBossQueue implements JobQueue {
  readonly boss: PgBoss
  readonly #logger: Logger

  constructor(databaseUrl: string, schema: string, logger: Logger) {
    this.boss = new PgBoss({
      connectionString: databaseUrl,
      schema,
      max: 5,
      useListenNotify: true,
      superviseIntervalSeconds: SUPERVISE_INTERVAL_SECONDS,
      monitorIntervalSeconds: SUPERVISE_INTERVAL_SECONDS,
    })
    this.#logger = logger
    this.boss.on('error', (error) => {
      this.#logger.error('Job queue error', errorFields(error))
    })
  }

  /** Starts pg-boss (creating or migrating its schema) and creates the queues. */
  async start(): Promise<void> {
    await this.boss.start()
    for (const dead of DEAD_LETTER_QUEUES) {
      await this.boss.createQueue(dead, { policy: 'standard' })
    }
    for (const [name, settings] of Object.entries(QUEUE_SETTINGS)) {
      const options = {
        retryLimit: settings.retryLimit,
        retryDelay: settings.retryDelaySeconds,
        retryBackoff: true,
        retryDelayMax: 300,
        deadLetter: settings.deadLetter,
        heartbeatSeconds: HEARTBEAT_SECONDS,
        notify: true,
      }
      await this.boss.createQueue(name, { policy: settings.policy, ...options })
      // createQueue leaves an existing queue as it was, so a changed setting is applied here.
      await this.boss.updateQueue(name, options)
    }
  }

  async stop(): Promise<void> {
    await this.boss.stop({ graceful: true, timeout: 10_000 })
  }

  async send<Q extends QueueName>(
    queue: Q,
    data: JobDataByQueue[Q],
    options: SendOptions,
    executor?: Executor,
  ): Promise<string | null> {
    return this.boss.send(queue, data, {
      singletonKey: options.singletonKey,
      ...(queue === QUEUES.fhirPush ? { priority: pushPriority(data as PushJobData) } : {}),
      ...(options.startAfterSeconds === undefined ? {} : { startAfter: options.startAfterSeconds }),
      ...(executor ? { db: fromKysely(executor) } : {}),
    })
  }

  async startDelayedNow<Q extends QueueName>(
    queue: Q,
    data: JobDataByQueue[Q],
    singletonKey: string,
  ): Promise<boolean> {
    // The stately policy keeps one waiting job per key, and a delayed retry counts as waiting, so
    // a send for new work is dropped until the retry starts. Cancelling the retry frees the slot.
    const waiting = await this.boss.findJobs(queue, { key: singletonKey, queued: true })
    const delayed = waiting.filter((job) => job.startAfter.getTime() > Date.now())
    if (delayed.length === 0) return false
    await this.boss.cancel(
      queue,
      delayed.map((job) => job.id),
    )
    await this.send(queue, data, { singletonKey })
    return true
  }

  /**
   * Puts a push that failed for good into the dead-letter queue, inside the caller's transaction
   * when one is given, keyed by its row so a replay can remove it.
   */
  async sendDeadPush(data: DeadPushJobData, executor?: Executor): Promise<void> {
    await this.boss.send(QUEUES.fhirPushDead, data, {
      singletonKey: pushSingletonKey(data),
      ...(executor ? { db: fromKysely(executor) } : {}),
    })
  }

  /** Puts a merge that failed for good into the dead-letter queue, keyed by its resource. */
  async sendDeadMerge(data: DeadMergeJobData): Promise<void> {
    await this.boss.send(QUEUES.fhirMergeDead, data, { singletonKey: mergeSingletonKey(data) })
  }

  /** Deletes the dead letters of one row, as after a replay; returns how many it deleted. */
  async deleteDeadPushes(entity: Pick<PushJobData, 'entityType' | 'entityId'>): Promise<number> {
    const jobs = await this.boss.findJobs(QUEUES.fhirPushDead, { key: pushSingletonKey(entity) })
    if (jobs.length === 0) return 0
    await this.boss.deleteJob(
      QUEUES.fhirPushDead,
      jobs.map((job) => job.id),
    )
    return jobs.length
  }

  /**
   * Runs `handler` for up to `batchSize` jobs of `queue` at once, `concurrency` batches at a time.
   * pg-boss gives a batch at most one job per singleton key.
   */
  async workBatch<Q extends QueueName>(
    queue: Q,
    concurrency: number,
    batchSize: number,
    handler: (jobs: Job<JobDataByQueue[Q]>[]) => Promise<void>,
  ): Promise<void> {
    await this.boss.work<JobDataByQueue[Q]>(
      queue,
      {
        batchSize,
        localConcurrency: concurrency,
        pollingIntervalSeconds: 1,
        notifyPollingIntervalSeconds: 1,
        // Without it a worker fetches once per polling interval even while a backlog waits.
        burstWhenBatchFull: true,
      },
      // A batch's lines carry its first job's id, as the batch's own log lines do.
      (jobs) => withJobLogFields({ jobId: jobs[0]?.id, queue }, () => handler(jobs)),
    )
  }

  /**
   * Runs `handler` for every job of `queue`, at most `concurrency` jobs at a time, fetched up to
   * `batchSize` at a time by each of `concurrency` fetchers. Each job settles on its own: one
   * that throws is failed, and retried or dead-lettered by the queue's settings, without touching
   * the others. Fetching in batches lets a worker drain a backlog without a polling pause between
   * jobs. The jobs of a batch start as soon as a slot is free, not one after another. HAPI
   * delivers the changes of one second at once, and the last job of such a batch would otherwise
   * wait for all the others.
   */
  async workEach<Q extends QueueName>(
    queue: Q,
    concurrency: number,
    batchSize: number,
    handler: (job: Job<JobDataByQueue[Q]>) => Promise<void>,
  ): Promise<void> {
    const slots = new Slots(concurrency)
    await this.boss.work<JobDataByQueue[Q]>(
      queue,
      {
        batchSize,
        localConcurrency: concurrency,
        pollingIntervalSeconds: 1,
        notifyPollingIntervalSeconds: 1,
        burstWhenBatchFull: batchSize > 1,
        perJobResults: true,
      },
      // pg-boss gives a batch at most one job per singleton key, so the jobs that run side by side
      // are of different resources or rows.
      (jobs) => Promise.all(jobs.map((job) => slots.run(() => this.#settle(job, handler)))),
    )
  }

  /** Runs `handler` for one job and returns the job's result instead of throwing. */
  async #settle<T>(job: Job<T>, handler: (job: Job<T>) => Promise<void>): Promise<JobResult> {
    try {
      await withJobLogFields({ jobId: job.id, queue: job.name }, () => handler(job))
      return { id: job.id, status: 'completed' }
    } catch (error) {
      this.#logger.warn('Job failed; the queue retries it', {
        ...errorFields(error),
        jobId: job.id,
        queue: job.name,
        retryCount: job.retryCount,
      })
      return {
        id: job.id,
        status: 'failed',
        output: { message: error instanceof Error ? error.message : String(error) },
      }
    }
  }

  /** Runs `handler` for every job of `queue`, `concurrency` jobs at a time. */
  async work<Q extends QueueName>(
    queue: Q,
    concurrency: number,
    handler: (job: Job<JobDataByQueue[Q]>) => Promise<void>,
  ): Promise<void> {
    await this.boss.work<JobDataByQueue[Q]>(
      queue,
      {
        batchSize: 1,
        localConcurrency: concurrency,
        pollingIntervalSeconds: 1,
        // With LISTEN/NOTIFY on, pg-boss 12 waits notifyPollingIntervalSeconds (30 s by default)
        // between fetches, not pollingIntervalSeconds. A NOTIFY wakes a worker for one fetch only,
        // so after a burst the jobs left over, and a stately job held back while another job of
        // its key ran, would wait up to 30 s each.
        notifyPollingIntervalSeconds: 1,
      },
      async (jobs) => {
        for (const job of jobs) {
          await withJobLogFields({ jobId: job.id, queue: job.name }, () => handler(job))
        }
      },
    )
  }
}

/** Sends jobs on behalf of one transaction; see `transactionWithJobs`. */
export interface TransactionJobs {
  send<Q extends QueueName>(
    queue: Q,
    data: JobDataByQueue[Q],
    options: { singletonKey: string },
  ): Promise<void>
}

/**
 * Runs `work` in a transaction whose jobs are sent inside it, so a crash after the commit cannot
 * lose them. A stately queue drops a send while a job of the same key is still waiting, and that
 * waiting job may be claimed and read the database before this transaction commits, so it would
 * miss the change. So every send the queue dropped is sent again after the commit, when a waiting
 * job is sure to see the change and a running one no longer blocks a new job of its key. A send
 * that the queue took needs no repeat: its job became visible only at the commit.
 */
export async function transactionWithJobs<T>(
  db: Kysely<Database>,
  queue: JobQueue,
  work: (trx: Transaction<Database>, jobs: TransactionJobs) => Promise<T>,
): Promise<T> {
  const dropped: { queue: QueueName; data: JobDataByQueue[QueueName]; singletonKey: string }[] = []
  const result = await db.transaction().execute(async (trx) =>
    work(trx, {
      async send(name, data, options) {
        const id = await queue.send(name, data, options, trx)
        if (id === null) dropped.push({ queue: name, data, singletonKey: options.singletonKey })
      },
    }),
  )
  // A crash right after the commit loses the repeat of a dropped send. The drift catch-up then
  // queues the job again for rows pending, and notifications unprocessed, for over 2 minutes.
  for (const job of dropped) {
    await queue.send(job.queue, job.data, { singletonKey: job.singletonKey })
  }
  return result
}

/** Singleton key of the merge jobs of one FHIR resource, shared by deliveries and retries. */
export function mergeSingletonKey(data: MergeJobData): string {
  return `${data.resourceType}/${data.resourceId}`
}

/**
 * Delays before each new merge of a parked notification, in seconds. After the last one the
 * notification is marked unresolved. A Condition's subject is mostly missing because the sender
 * writes the Patient, or the identifier the Condition names, moments later, which the 30 s and
 * 2 min steps cover. A batch load that stopped halfway or a record fixed by hand takes minutes
 * to hours, hence 10 min, 1 h and 6 h. Timed retries are needed because the merge of the
 * Patient's own notification finds its Conditions by `subject=Patient/<id>`, which misses a
 * Condition that names the Patient by identifier. About 7 h after the first try a steward
 * should look. A later edit of the Condition brings a new notification, whose attempts start
 * at zero.
 */
export const PARKED_MERGE_RETRY_DELAYS_SECONDS: readonly number[] = [30, 120, 600, 3_600, 21_600]

/**
 * Returns the wait before the next merge of notifications that were parked `attempts` times,
 * or null once the schedule is used up and the notifications should be marked unresolved.
 */
export function parkedMergeRetryDelaySeconds(attempts: number): number | null {
  return PARKED_MERGE_RETRY_DELAYS_SECONDS[Math.max(0, attempts)] ?? null
}

/**
 * Sends a merge job that starts after `delaySeconds`, inside the caller's transaction when one
 * is given. It shares the singleton key of the receiver's merge jobs, so a retry never runs
 * beside another merge of the same resource. Returns null when pg-boss drops the send because
 * a job of that key already waits, which then does the merge instead.
 */
export async function sendDelayedMergeJob(
  queue: JobQueue,
  data: MergeJobData,
  delaySeconds: number,
  executor?: Executor,
): Promise<string | null> {
  // The stately policy keeps one waiting job per key, and a delayed job counts as waiting: the
  // receiver's send for a new delivery would be dropped, so the receiver starts it at once
  // (`startDelayedNow`).
  return queue.send(
    QUEUES.fhirMerge,
    data,
    { singletonKey: mergeSingletonKey(data), startAfterSeconds: delaySeconds },
    executor,
  )
}
