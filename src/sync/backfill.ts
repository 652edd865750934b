import type { Bundle, Patient as FhirPatient } from '@medplum/fhirtypes'
import type { Kysely } from 'kysely'
import { FhirRequestError, type FhirClient } from '../fhir/fhir-client.ts'
import { sameValue } from '../platform/canonical-json.ts'
import type { Clock } from '../platform/clock.ts'
import type { Database } from '../platform/db.ts'
import { ConflictError } from '../platform/errors.ts'
import { errorFields, type Logger } from '../platform/logger.ts'
import {
  advanceFhirCursor,
  advanceRegistryCursor,
  patientPageOf,
  patientPageSearch,
  type FhirCursor,
  type RegistryCursor,
} from './backfill-cursor.ts'
import { LogProgress, type BackfillProgress } from './backfill-progress.ts'
import type {
  BackfillDirection,
  BackfillRepository,
  BackfillRunRow,
} from './backfill.repository.ts'
import type { InboundMerge } from './inbound-merge.ts'
import type { OutboundPush } from './outbound-push.ts'
import type { BatchResult, PushBatch } from './push-batch.ts'

export interface BackfillDeps {
  db: Kysely<Database>
  runs: BackfillRepository
  fhir: FhirClient
  merge: Pick<InboundMerge, 'applyPatient'>
  push: Pick<OutboundPush, 'push'>
  clock: Clock
  logger: Logger
  /** Patients or rows per page, unless the run's options set another size. */
  pageSize: number
  /** Merges or pushes of one page that run at once. */
  concurrency: number
}

export interface BackfillOptions {
  /** Abandons the unfinished run of the direction and starts a new one. */
  restart?: boolean
  pageSize?: number
  /** Merges or pushes of one page that run at once; the deps' `concurrency` when left out. */
  concurrency?: number
  /**
   * Writes the rows of a to-fhir page in transaction Bundles of `size` rows, `concurrency` Bundles
   * at once, rather than one PUT per row. The batch falls back to the single push for any row a
   * Bundle cannot carry, so the outcomes stay those of the single push.
   */
  pushBatch?: { batch: Pick<PushBatch, 'push'>; size: number }
  /** Stops after this many pages, leaving the run unfinished for the next invocation. */
  maxPages?: number
  /** Stops after the page in progress once aborted, leaving the run unfinished. */
  signal?: AbortSignal
  /** Defaults to one log line per page. */
  progress?: BackfillProgress
  /**
   * Search parameters that narrow the Patients a from-fhir run reads, such as a `_tag`. An
   * unfinished run continues only with the parameters it started with.
   */
  patientSearch?: Record<string, string>
}

export interface BackfillResult {
  runId: string
  direction: BackfillDirection
  /** `stopped`: `maxPages` or the signal ended this invocation, and the next one continues. */
  status: 'finished' | 'stopped'
  resumed: boolean
  /** Items the run handled over all its invocations, failures included. */
  processed: number
  /** Items per outcome over all invocations: merge or push outcomes, and `failed`. */
  counts: Record<string, number>
  durationMs: number
}

/** Outcome of one item. A failure is counted and logged, and the run goes on. */
type ItemResult = { outcome: string } | { outcome: 'failed'; id: string; error: unknown }

/** State of a run, which each page moves on and saves. */
interface RunState {
  id: string
  direction: BackfillDirection
  cursor: unknown
  processed: number
  counts: Record<string, number>
  search: Record<string, string>
  logger: Logger
  requestId: string
  concurrency: number
}

/**
 * Copies what one side contains to the other once, before or while sync starts: from-fhir applies
 * every Patient in HAPI through the inbound merge, which enrols the neurological ones with their
 * Conditions, and to-fhir writes every registry row that never reached FHIR through the push.
 * The cursor is saved after every page, so a new invocation continues an unfinished run. Merges
 * and pushes are idempotent, so redoing the page that a crash interrupted is safe.
 */
export class Backfill {
  readonly #deps: BackfillDeps

  constructor(deps: BackfillDeps) {
    this.#deps = deps
  }

  /**
   * Runs or continues the backfill of one direction. Raises `BACKFILL_RUNNING` when another
   * process runs the same direction against this schema.
   */
  async run(direction: BackfillDirection, options: BackfillOptions = {}): Promise<BackfillResult> {
    const { db, runs } = this.#deps
    const result = await db.connection().execute(async (connection) => {
      if (!(await runs.tryLockDirection(connection, direction))) return 'locked' as const
      try {
        return await this.#runLocked(direction, options)
      } finally {
        await runs.unlockDirection(connection, direction)
      }
    })
    if (result === 'locked') {
      throw new ConflictError(
        'BACKFILL_RUNNING',
        `Another process runs the ${direction} backfill of this registry; wait until it ends`,
      )
    }
    return result
  }

  async #runLocked(direction: BackfillDirection, options: BackfillOptions) {
    const { clock } = this.#deps
    const started = performance.now()
    const pageSize = options.pageSize ?? this.#deps.pageSize
    const { run, resumed } = await this.#openRun(direction, options)
    const state: RunState = {
      id: run.id,
      direction,
      cursor: run.cursor,
      processed: run.processed,
      counts: { ...run.counts },
      search: run.search,
      logger: this.#deps.logger.child({ runId: run.id, direction }),
      // HAPI keeps at most 16 characters of X-Request-ID. The merge also writes it to the audit log.
      requestId: `bf${run.id.replaceAll('-', '').slice(0, 14)}`,
      concurrency: options.concurrency ?? this.#deps.concurrency,
    }

    const total = await this.#total(state)
    state.logger.info('Backfill started', { resumed, pageSize, processed: state.processed, total })
    const progress = options.progress ?? new LogProgress({ logger: this.#deps.logger, clock })
    progress.start({ runId: run.id, direction }, total, state.processed)
    let status: BackfillResult['status']
    try {
      status = await this.#pages(state, pageSize, options, progress)
    } finally {
      progress.stop()
    }

    if (status === 'finished')
      await this.#deps.runs.end(this.#deps.db, run.id, 'finished', clock.now())
    const durationMs = Math.round(performance.now() - started)
    state.logger.info(status === 'finished' ? 'Backfill finished' : 'Backfill stopped', {
      processed: state.processed,
      counts: state.counts,
      durationMs,
    })
    return {
      runId: run.id,
      direction,
      status,
      resumed,
      processed: state.processed,
      counts: state.counts,
      durationMs,
    }
  }

  /** Continues the unfinished run of the direction, or starts one. */
  async #openRun(
    direction: BackfillDirection,
    options: BackfillOptions,
  ): Promise<{ run: BackfillRunRow; resumed: boolean }> {
    const { db, runs, clock, logger } = this.#deps
    const search = direction === 'from-fhir' ? (options.patientSearch ?? {}) : {}
    const running = await runs.findRunning(db, direction)

    if (running && options.restart) {
      await runs.end(db, running.id, 'abandoned', clock.now())
      logger.info('Backfill run abandoned for a restart', { runId: running.id, direction })
    } else if (running) {
      if (!sameValue(running.search, search)) {
        throw new ConflictError(
          'BACKFILL_SEARCH_CHANGED',
          `The unfinished ${direction} run ${running.id} reads Patients with other search parameters; pass the same ones, or restart it`,
        )
      }
      return { run: running, resumed: true }
    }
    const run = await runs.insert(db, {
      id: crypto.randomUUID(),
      direction,
      search,
      now: clock.now(),
    })
    return { run, resumed: false }
  }

  /** Items the run handles in all: those done before plus those still to do, as counted now. */
  async #total(state: RunState): Promise<number> {
    const { db, runs, fhir } = this.#deps
    if (state.direction === 'from-fhir') {
      const counted = await fhir.search('Patient', { ...state.search, _summary: 'count' })
      return Math.max(counted.total ?? 0, state.processed)
    }

    const cursor = registryCursorOf(state.cursor)
    const remaining =
      cursor.entityType === 'patient'
        ? (await runs.countUnsynced(db, 'patients', cursor.afterId)) +
          (await runs.countUnsynced(db, 'conditions', null))
        : await runs.countUnsynced(db, 'conditions', cursor.afterId)
    return state.processed + remaining
  }

  async #pages(
    state: RunState,
    pageSize: number,
    options: BackfillOptions,
    progress: BackfillProgress,
  ): Promise<BackfillResult['status']> {
    let pages = 0
    for (;;) {
      if (options.signal?.aborted) return 'stopped'
      if (options.maxPages !== undefined && pages >= options.maxPages) return 'stopped'

      const step =
        state.direction === 'from-fhir'
          ? await this.#fhirPage(state, pageSize)
          : await this.#registryPage(state, pageSize, options)
      if (step === 'done') return 'finished'
      if (step === 'page') {
        pages++
        progress.update(state.processed)
      }
    }
  }

  /** Applies the next page of Patients from HAPI. */
  async #fhirPage(state: RunState, pageSize: number): Promise<'page' | 'moved' | 'done'> {
    const cursor = state.cursor as FhirCursor | null
    const bundle: Bundle<FhirPatient> = await this.#deps.fhir.search<FhirPatient>(
      'Patient',
      patientPageSearch(cursor, pageSize, state.search),
    )
    const read = (bundle.entry ?? []).flatMap((entry) =>
      entry.resource?.resourceType === 'Patient' ? [entry.resource] : [],
    )
    const page = patientPageOf(cursor, read)
    if (page.kind === 'shifted') {
      state.logger.info('Patients of the cursor instant changed; reading it again', {
        lastUpdated: cursor?.lastUpdated,
      })
      await this.#save(state, page.cursor, [])
      return 'moved'
    }
    if (page.patients.length === 0) return 'done'

    const results = await this.#applyAll(state, page.patients, (patient) =>
      this.#applyPatient(state, patient),
    )
    await this.#save(state, advanceFhirCursor(cursor, page.patients), results)
    return 'page'
  }

  /** Pushes the next page of registry rows, patients before conditions. */
  async #registryPage(
    state: RunState,
    pageSize: number,
    options: BackfillOptions,
  ): Promise<'page' | 'moved' | 'done'> {
    const cursor = registryCursorOf(state.cursor)
    const table = cursor.entityType === 'patient' ? 'patients' : 'conditions'
    const ids = await this.#deps.runs.listUnsyncedIds(
      this.#deps.db,
      table,
      cursor.afterId,
      pageSize,
    )
    const next = advanceRegistryCursor(cursor, ids)
    if (next === 'done') return 'done'
    if (ids.length === 0) {
      await this.#save(state, next, [])
      return 'moved'
    }

    const results = options.pushBatch
      ? await this.#pushBatches(state, cursor.entityType, ids, options.pushBatch)
      : await this.#applyAll(state, ids, (id) => this.#pushRow(state, cursor.entityType, id))
    await this.#save(state, next, results)
    return 'page'
  }

  // NOTE: the merge imports a Patient's Conditions only when it enrols the Patient. Conditions
  // added in HAPI to a patient the registry already has are left to the drift catch-up.
  async #applyPatient(state: RunState, patient: FhirPatient): Promise<ItemResult> {
    const fhirId = `Patient/${patient.id ?? ''}`
    try {
      return { outcome: await this.#deps.merge.applyPatient(patient, state.requestId) }
    } catch (error) {
      state.logger.warn('Backfill merge failed', { fhirId, ...errorFields(error) })
      return { outcome: 'failed', id: fhirId, error }
    }
  }

  async #pushRow(
    state: RunState,
    entityType: RegistryCursor['entityType'],
    entityId: string,
  ): Promise<ItemResult> {
    try {
      return { outcome: await this.#deps.push.push({ entityType, entityId }, state.requestId) }
    } catch (error) {
      state.logger.warn('Backfill push failed', { entityType, entityId, ...errorFields(error) })
      return { outcome: 'failed', id: `${entityType}:${entityId}`, error }
    }
  }

  /** Pushes the rows of a page in transaction Bundles, with the run's `concurrency` at once. */
  async #pushBatches(
    state: RunState,
    entityType: RegistryCursor['entityType'],
    ids: readonly string[],
    pushBatch: NonNullable<BackfillOptions['pushBatch']>,
  ): Promise<ItemResult[]> {
    const chunks: string[][] = []
    for (let start = 0; start < ids.length; start += pushBatch.size) {
      chunks.push(ids.slice(start, start + pushBatch.size))
    }
    const perChunk = await mapWithConcurrency(chunks, state.concurrency, async (chunk) => {
      const jobs = chunk.map((entityId) => ({ entityType, entityId }))
      try {
        const results = await pushBatch.batch.push(jobs, state.requestId)
        return results.map((result) => this.#batchItemResult(state, result))
      } catch (error) {
        state.logger.warn('Backfill push batch failed', {
          entityType,
          firstEntityId: chunk[0],
          rows: chunk.length,
          ...errorFields(error),
        })
        return chunk.map((entityId) => ({
          outcome: 'failed' as const,
          id: `${entityType}:${entityId}`,
          error,
        }))
      }
    })
    return this.#checkPage(perChunk.flat())
  }

  #batchItemResult(state: RunState, result: BatchResult): ItemResult {
    const { entityType, entityId } = result.job
    if (!('error' in result)) {
      // A write in a Bundle counts as `pushed`, as a single push's write does.
      return { outcome: result.outcome === 'pushed-in-bundle' ? 'pushed' : result.outcome }
    }
    state.logger.warn('Backfill push failed', {
      entityType,
      entityId,
      ...errorFields(result.error),
    })
    return { outcome: 'failed', id: `${entityType}:${entityId}`, error: result.error }
  }

  /** Runs `apply` on the items with at most the run's `concurrency` at once. */
  async #applyAll<T>(
    state: RunState,
    items: readonly T[],
    apply: (item: T) => Promise<ItemResult>,
  ) {
    return this.#checkPage(await mapWithConcurrency(items, state.concurrency, apply))
  }

  /**
   * Raises when every item of the page failed with a FHIR error that a retry may fix (no
   * connection, timeout, 408, 429, 5xx). The run then stops without saving the page, because
   * going on would only count every later item as failed. The next invocation redoes the page.
   */
  #checkPage(results: ItemResult[]): ItemResult[] {
    const failures = results.filter((result) => 'error' in result)
    const unreachable = failures.filter(
      (failure) => failure.error instanceof FhirRequestError && failure.error.retryable,
    )
    if (unreachable.length > 0 && unreachable.length === results.length) {
      throw new Error(
        `Every item of the page failed; the first error: ${String(unreachable[0]?.error)}`,
        {
          cause: unreachable[0]?.error,
        },
      )
    }
    return results
  }

  async #save(state: RunState, cursor: unknown, results: readonly ItemResult[]): Promise<void> {
    for (const result of results)
      state.counts[result.outcome] = (state.counts[result.outcome] ?? 0) + 1
    state.processed += results.length
    state.cursor = cursor
    await this.#deps.runs.saveProgress(this.#deps.db, state.id, {
      cursor,
      processed: state.processed,
      counts: state.counts,
      now: this.#deps.clock.now(),
    })

    const failedIds = results.flatMap((result) => ('error' in result ? [result.id] : []))
    if (failedIds.length > 0) {
      state.logger.warn('Backfill page had failures', { failed: failedIds.length, failedIds })
    }
  }
}

function registryCursorOf(cursor: unknown): RegistryCursor {
  return (cursor as RegistryCursor | null) ?? { entityType: 'patient', afterId: null }
}

/** Maps the items with at most `limit` calls at once, keeping their order. */
async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  map: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = []
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await map(items[index] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}
