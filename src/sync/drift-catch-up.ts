import type { Bundle } from '@medplum/fhirtypes'
import type { Kysely } from 'kysely'
import type { FhirClient } from '../fhir/fhir-client.ts'
import type { Clock } from '../platform/clock.ts'
import type { Database } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import type { EntityType, JobQueue } from '../platform/queue.ts'
import type { SyncedResourceType } from '../platform/sync-modes.ts'
import type { DriftRepository } from './drift.repository.ts'
import { feedToMerge } from './drift-feed.ts'
import { requeueStaleMerges, requeueStalePushes } from './stale-jobs.ts'
import {
  UNKNOWN_RESOURCE,
  alreadySeen,
  dropRepeats,
  historyChanges,
  serverTimeOf,
} from './drift-history.ts'
import type { NotificationRepository } from './notification.repository.ts'

/** Figures of one catch-up run. */
export interface CatchUpCounts {
  /** History entries read, repeats included. */
  read: number
  /** Entries read a second time because a write during paging moved them to a later page. */
  repeats: number
  /** Changes recorded as notifications and queued for the merge. */
  queued: number
  /** Changes the registry had already seen. */
  skipped: number
  /** Queued changes that are deletions. */
  deletes: number
  /** Entries that named no resource and version. */
  unreadable: number
  /** Resource types read for the first time, whose cursor starts at HAPI's current time. */
  cursorsStarted: number
  /** Pending rows without a push on its way, whose push was queued again. */
  stalePushesQueued: number
  /** Resources with a notification left without a merge job, whose merge was queued again. */
  staleMergesQueued: number
}

export interface CatchUpResult {
  counts: CatchUpCounts
  /** Earliest `_since` the run read from; null when every type started its cursor. */
  cursorFrom: Date | null
  /** Earliest of the cursors the run saved. */
  cursorTo: Date | null
}

export interface DriftCatchUpDeps {
  db: Kysely<Database>
  fhir: FhirClient
  drift: DriftRepository
  notifications: NotificationRepository
  queue: JobQueue
  clock: Clock
  /** Resource types whose FHIR changes the registry merges. */
  resourceTypes: readonly SyncedResourceType[]
  pageSize: number
  overlapSeconds: number
  /** Types whose registry changes are pushed, for the re-queue of stale pushes. */
  pushedTypes: readonly EntityType[]
}

/**
 * Age after which a pending row, or an unprocessed notification, is taken to have lost its job,
 * in seconds. A job normally starts within a second or two.
 */
const STALE_JOB_SECONDS = 120

/**
 * Reads HAPI's history of each pulled resource type since its cursor and feeds every change the
 * registry has not seen to the merge, so changes whose rest-hook delivery HAPI dropped still
 * arrive. HAPI drops a delivery after about a minute of failures and loses the queued ones when
 * it restarts.
 */
export class DriftCatchUp {
  readonly #deps: DriftCatchUpDeps

  constructor(deps: DriftCatchUpDeps) {
    this.#deps = deps
  }

  /**
   * Runs one catch-up. The cursors move only after every type was read to the end, so a run
   * that fails leaves them where they were and the next one reads the same changes again, which
   * the merge takes as repeats.
   */
  async run(runId: string, logger: Logger): Promise<CatchUpResult> {
    const { db, drift, clock } = this.#deps
    const counts = emptyCounts()
    const nextCursors: { resourceType: SyncedResourceType; cursor: Date }[] = []
    const sinces: Date[] = []

    for (const resourceType of this.#deps.resourceTypes) {
      const saved = await drift.findCursor(db, resourceType)
      if (saved === undefined) {
        // A first run starts at HAPI's current time. What came before is the initial load's job.
        const page = await this.#deps.fhir.history(resourceType, { _count: '1' })
        nextCursors.push({ resourceType, cursor: requireServerTime(page, resourceType) })
        counts.cursorsStarted += 1
        continue
      }
      const since = new Date(saved.getTime() - this.#deps.overlapSeconds * 1000)
      sinces.push(since)
      const cursor = await this.#readHistory(resourceType, since, counts, logger)
      nextCursors.push({ resourceType, cursor })
    }

    const now = clock.now()
    for (const next of nextCursors) {
      await drift.saveCursor(db, { ...next, runId, now })
    }
    counts.stalePushesQueued = await requeueStalePushes(
      db,
      this.#deps.queue,
      this.#deps.pushedTypes,
      STALE_JOB_SECONDS,
      now,
    )
    counts.staleMergesQueued = await requeueStaleMerges(
      db,
      this.#deps.queue,
      STALE_JOB_SECONDS,
      now,
    )
    return {
      counts,
      cursorFrom: earliest(sinces),
      cursorTo: earliest(nextCursors.map((next) => next.cursor)),
    }
  }

  /** Reads one type's history since `since`; returns HAPI's time at the first page. */
  async #readHistory(
    resourceType: SyncedResourceType,
    since: Date,
    counts: CatchUpCounts,
    logger: Logger,
  ): Promise<Date> {
    const { fhir, pageSize } = this.#deps
    const first = await fhir.history(resourceType, {
      _since: since.toISOString(),
      _count: String(pageSize),
    })
    // HAPI's own time, not this process's clock: HAPI stamps versions with its clock, and the
    // two may differ by more than the overlap.
    const serverTime = requireServerTime(first, resourceType)
    const seen = new Set<string>()
    let pages = 0
    for (let page: Bundle | null = first; page !== null; page = await fhir.nextPage(page)) {
      await this.#processPage(resourceType, page, seen, counts)
      pages += 1
    }
    logger.debug('History read', { resourceType, pages, since: since.toISOString() })
    return serverTime
  }

  async #processPage(
    resourceType: SyncedResourceType,
    page: Bundle,
    seen: Set<string>,
    counts: CatchUpCounts,
  ): Promise<void> {
    const { changes, unreadable } = historyChanges(page)
    counts.read += changes.length + unreadable
    counts.unreadable += unreadable
    // A `_history` of one type holds only that type, but a server could add others.
    const ofType = changes.filter((change) => change.resourceType === resourceType)
    const fresh = dropRepeats(ofType, seen)
    counts.repeats += ofType.length - fresh.length
    if (fresh.length === 0) return

    const known = await this.#deps.drift.knownResources(
      this.#deps.db,
      resourceType,
      fresh.map((change) => change.resourceId),
    )
    const news = fresh.filter(
      (change) => !alreadySeen(change, known.get(change.resourceId) ?? UNKNOWN_RESOURCE),
    )
    await feedToMerge(
      this.#deps,
      news.map((change) => ({ ...change, resourceType })),
    )
    counts.skipped += fresh.length - news.length
    counts.queued += news.length
    counts.deletes += news.filter((change) => change.deleted).length
  }
}

function emptyCounts(): CatchUpCounts {
  return {
    read: 0,
    repeats: 0,
    queued: 0,
    skipped: 0,
    deletes: 0,
    unreadable: 0,
    cursorsStarted: 0,
    stalePushesQueued: 0,
    staleMergesQueued: 0,
  }
}

function requireServerTime(page: Bundle, resourceType: string): Date {
  const time = serverTimeOf(page)
  if (time === null) {
    throw new Error(
      `The ${resourceType} history page has no meta.lastUpdated, so the catch-up cannot place its cursor in the server's time`,
    )
  }
  return time
}

function earliest(times: readonly Date[]): Date | null {
  if (times.length === 0) return null
  return new Date(Math.min(...times.map((time) => time.getTime())))
}
