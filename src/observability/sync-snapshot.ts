import type { Kysely } from 'kysely'
import type { Clock } from '../platform/clock.ts'
import type { Database } from '../platform/db.ts'
import { DEAD_LETTER_QUEUES, QUEUES, type DriftKind, type EntityType } from '../platform/queue.ts'
import type { DriftRepository } from '../sync/drift.repository.ts'
import type {
  QueueDepth,
  SyncAdminRepository,
  SyncStateCounts,
} from '../sync/sync-admin.repository.ts'
import type { MetricsRepository } from './metrics.repository.ts'

/** The queues whose jobs the workers run, as opposed to the dead-letter queues. */
export const WORK_QUEUES = [QUEUES.fhirPush, QUEUES.fhirMerge, QUEUES.syncDrift] as const

/** The last finished run of one drift kind. */
export interface FinishedDriftRun {
  finishedAt: Date
  /** The run's counts; a verification has one count per finding kind. */
  counts: Record<string, number>
}

/** The sync figures the metrics read from the database at one scrape. */
export interface SyncSnapshot {
  /** Time the snapshot was read, by the registry's clock; ages are measured against it. */
  readAt: Date
  queues: Record<(typeof WORK_QUEUES)[number], QueueDepth>
  /** Jobs in each dead-letter queue. */
  deadLetters: Record<(typeof DEAD_LETTER_QUEUES)[number], number>
  rows: Record<EntityType, SyncStateCounts>
  inbox: { unprocessed: number; parked: number; oldestUnprocessedAt: Date | null }
  openConflicts: Record<EntityType, number>
  lastDriftRuns: Record<DriftKind, FinishedDriftRun | null>
}

export interface SyncSnapshotReaderDeps {
  db: Kysely<Database>
  syncAdmin: SyncAdminRepository
  drift: DriftRepository
  metrics: MetricsRepository
  queueSchema: string
  clock: Clock
}

/** Reads the sync figures with the sync status's queries, plus the open conflicts. */
export class SyncSnapshotReader {
  readonly #deps: SyncSnapshotReaderDeps

  constructor(deps: SyncSnapshotReaderDeps) {
    this.#deps = deps
  }

  /**
   * Reads every figure over one pooled connection, one query after another, so a scrape never
   * takes more than one connection from the workers.
   */
  async read(): Promise<SyncSnapshot> {
    const { syncAdmin, drift, metrics, queueSchema, clock } = this.#deps
    return this.#deps.db.connection().execute(async (db) => {
      const depths = await syncAdmin.queueDepths(db, queueSchema, [
        ...WORK_QUEUES,
        ...DEAD_LETTER_QUEUES,
      ])
      const patients = await syncAdmin.countSyncStates(db, 'patients')
      const conditions = await syncAdmin.countSyncStates(db, 'conditions')
      const inbox = await syncAdmin.countInbox(db)
      const openConflicts = await metrics.countOpenConflicts(db)
      const catchUp = await drift.lastFinished(db, 'catch-up')
      const verification = await drift.lastFinished(db, 'verification')

      const depthOf = (name: string): QueueDepth =>
        depths[name] ?? { ready: 0, deferred: 0, active: 0, oldestReadyAt: null }
      const deadLettersOf = (name: string) => depthOf(name).ready + depthOf(name).deferred
      const finished = (run: typeof catchUp): FinishedDriftRun | null =>
        run?.finished_at ? { finishedAt: run.finished_at, counts: run.counts } : null
      return {
        readAt: clock.now(),
        queues: {
          [QUEUES.fhirPush]: depthOf(QUEUES.fhirPush),
          [QUEUES.fhirMerge]: depthOf(QUEUES.fhirMerge),
          [QUEUES.syncDrift]: depthOf(QUEUES.syncDrift),
        },
        deadLetters: {
          [QUEUES.fhirPushDead]: deadLettersOf(QUEUES.fhirPushDead),
          [QUEUES.fhirMergeDead]: deadLettersOf(QUEUES.fhirMergeDead),
          [QUEUES.syncDriftDead]: deadLettersOf(QUEUES.syncDriftDead),
        },
        rows: { patient: patients, condition: conditions },
        inbox,
        openConflicts: {
          patient: openConflicts.patient ?? 0,
          condition: openConflicts.condition ?? 0,
        },
        lastDriftRuns: { 'catch-up': finished(catchUp), verification: finished(verification) },
      }
    })
  }
}
