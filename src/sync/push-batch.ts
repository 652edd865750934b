import type {
  Bundle,
  BundleEntry,
  Condition as FhirCondition,
  Patient as FhirPatient,
} from '@medplum/fhirtypes'
import { setTimeout } from 'node:timers/promises'
import type { Kysely } from 'kysely'
import type { ConditionRepository, ConditionRow } from '../conditions/condition.repository.ts'
import type { ConflictRow } from '../conflicts/conflict.repository.ts'
import { FhirRequestError, versionIdOf, type FhirClient } from '../fhir/fhir-client.ts'
import type { PatientRepository, PatientRow } from '../patients/patient.repository.ts'
import type { Database } from '../platform/db.ts'
import { errorFields, type Logger } from '../platform/logger.ts'
import type { EntityType, PushJobData } from '../platform/queue.ts'
import type { SyncModes } from '../platform/sync-modes.ts'
import type { OutboundPush, PushOutcome } from './outbound-push.ts'

export interface PushBatchDeps {
  db: Kysely<Database>
  patients: PatientRepository
  conditions: ConditionRepository
  fhir: FhirClient
  push: OutboundPush
  syncModes: SyncModes
  logger: Logger
}

/** Result of one job of a batch: its push outcome, or the error its own push raised. */
export type BatchResult =
  | { job: PushJobData; outcome: PushOutcome | 'pushed-in-bundle' }
  | { job: PushJobData; error: unknown }

/** A write of one row, ready to go into a transaction Bundle. */
interface PreparedWrite {
  job: PushJobData
  row: PatientRow | ConditionRow
  resource: FhirPatient | FhirCondition
  ifMatchVersion: number | null
  open: ConflictRow[]
}

const RESOURCE_TYPE = { patient: 'Patient', condition: 'Condition' } as const

/**
 * Bundles one batch writes at most. The rows left after the last round take the single push,
 * which merges first where FHIR moved on and writes a condition's patient before it.
 */
const MAX_ROUNDS = 5

/**
 * Pause before the next round when a round wrote no Bundle, so the batch that writes the waiting
 * conditions' patients can finish. An estimate of one Bundle's time on a loaded HAPI.
 */
const SUBJECT_WAIT_MS = 250

/**
 * Pushes many rows with one FHIR transaction Bundle. Only plain writes go into the Bundle: a live
 * row whose FHIR resource is at the version the registry recorded, or which was never written.
 * A condition also needs its patient in FHIR already, or written by the same Bundle, because HAPI
 * resolves a reference to a resource that another entry of the transaction writes. Everything
 * else (deletes, rows FHIR changed meanwhile, which must be merged first) takes the single push.
 * A transaction is all or nothing, so when HAPI rejects the Bundle, for one bad entry or a version
 * that moved on, every row of it is pushed singly: one bad record never blocks the rest.
 */
export class PushBatch {
  readonly #deps: PushBatchDeps

  constructor(deps: PushBatchDeps) {
    this.#deps = deps
  }

  async push(jobs: readonly PushJobData[], requestId: string): Promise<BatchResult[]> {
    const results: BatchResult[] = []
    const singles: PushJobData[] = []
    let waiting: readonly PushJobData[] = jobs
    let wrote = true
    // A condition whose patient is neither in FHIR nor in this Bundle waits for the next round.
    // By then the patient's own push, mostly in a batch that runs beside this one, has written
    // it, so the condition still goes in a Bundle rather than alone. A Bundle that met a newer
    // version (another batch created one of its resources meanwhile) is prepared again as well.
    for (let round = 1; round <= MAX_ROUNDS && waiting.length > 0; round++) {
      if (round > 1 && !wrote) await setTimeout(SUBJECT_WAIT_MS)
      const prepared = await this.#prepareRound(waiting, results, singles)
      wrote = prepared.writes.length > 1
      const again = await this.#writeOrFallBack(prepared.writes, results, singles, requestId)
      waiting = [...again, ...prepared.waiting]
    }
    // The single push writes the patient first when it is still not in FHIR.
    singles.push(...waiting)

    for (const job of singles) {
      try {
        results.push({ job, outcome: await this.#deps.push.push(job, requestId) })
      } catch (error) {
        results.push({ job, error })
      }
    }
    return results
  }

  /** Prepares the jobs of both types; adds those that need the single push to `singles`. */
  async #prepareRound(
    jobs: readonly PushJobData[],
    results: BatchResult[],
    singles: PushJobData[],
  ): Promise<{ writes: PreparedWrite[]; waiting: PushJobData[] }> {
    const writes: PreparedWrite[] = []
    const waiting: PushJobData[] = []
    for (const entityType of ['patient', 'condition'] as const) {
      const ofType = jobs.filter((job) => job.entityType === entityType)
      if (ofType.length === 0) continue
      try {
        const prepared = await this.#prepare(entityType, ofType, results, writes)
        singles.push(...prepared.singles)
        writes.push(...prepared.writes)
        waiting.push(...prepared.waiting)
      } catch (error) {
        // Such as HAPI being unreachable for the batch read. Each row's own push then fails and is
        // retried on its own.
        this.#deps.logger.warn('Push batch could not be prepared; pushing its rows one by one', {
          ...errorFields(error),
          entityType,
          rows: ofType.length,
        })
        const decided = new Set(results.map((result) => result.job))
        singles.push(...ofType.filter((job) => !decided.has(job)))
      }
    }
    return { writes, waiting }
  }

  /**
   * Writes the prepared rows in one Bundle. When there is only one, or HAPI rejects the Bundle,
   * they go first in `singles`, patients before conditions, so a condition finds its subject.
   * Returns the jobs to prepare again when the Bundle met a newer version.
   */
  async #writeOrFallBack(
    writes: readonly PreparedWrite[],
    results: BatchResult[],
    singles: PushJobData[],
    requestId: string,
  ): Promise<PushJobData[]> {
    const written = writes.length > 1 ? await this.#writeBundle(writes, requestId) : 'rejected'
    if (written === 'conflict') return writes.map((write) => write.job)
    if (written === 'rejected') singles.unshift(...writes.map((write) => write.job))
    else results.push(...written)
    return []
  }

  /**
   * Splits one type's jobs into Bundle writes and single pushes. The rows, their patients and
   * their open conflicts are read with one query each, and FHIR's current versions of the rows
   * written before with one search. `earlier` contains the writes of the types prepared before.
   */
  async #prepare(
    entityType: EntityType,
    jobs: readonly PushJobData[],
    results: BatchResult[],
    earlier: readonly PreparedWrite[],
  ): Promise<{ writes: PreparedWrite[]; singles: PushJobData[]; waiting: PushJobData[] }> {
    const { db, fhir } = this.#deps
    const writes: PreparedWrite[] = []
    const singles: PushJobData[] = []
    const waiting: PushJobData[] = []
    if (this.#deps.syncModes[RESOURCE_TYPE[entityType]].direction !== 'two-way') {
      return { writes, singles: [...jobs], waiting }
    }

    const found = await rowsById(db, entityType, jobs)
    // Patients the Bundle creates, so their conditions can go into it as well.
    const createdInBundle = new Set(
      earlier.filter((write) => write.ifMatchVersion === null).map((write) => write.row.id),
    )
    const patientsById = new Map<string, PatientRow>()
    if (entityType === 'condition') {
      const patientIds = [...found.values()].map((row) => (row as ConditionRow).patient_id)
      for (const patient of (await rowsOf(db, 'patients', patientIds)) as PatientRow[]) {
        patientsById.set(patient.id, patient)
      }
    }

    const rows = new Map<string, PatientRow | ConditionRow>()
    const subjects = new Map<string, string>()
    for (const job of jobs) {
      const row = found.get(job.entityId)
      if (!row?.fhir_id || row.deleted_at) {
        singles.push(job)
        continue
      }
      if ('patient_id' in row) {
        const patient = patientsById.get(row.patient_id)
        if (!patient?.fhir_id || patient.deleted_at) {
          singles.push(job)
          continue
        }
        if (patient.fhir_version_id === null && !createdInBundle.has(patient.id)) {
          waiting.push(job)
          continue
        }
        subjects.set(row.id, patient.fhir_id)
      }
      rows.set(job.entityId, row)
    }

    // A row never written needs no read: like the single push, it is created with a PUT to its
    // own id, which writes the same resource again if an earlier try got through unrecorded.
    const fhirIds = [...rows.values()]
      .filter((row) => row.fhir_version_id !== null)
      .map((row) => row.fhir_id ?? '')
    const currents = new Map<string, FhirPatient | FhirCondition>()
    if (fhirIds.length > 0) {
      const page = await fhir.search<FhirPatient | FhirCondition>(RESOURCE_TYPE[entityType], {
        _id: fhirIds.join(','),
        _count: String(fhirIds.length),
      })
      for (const entry of page.entry ?? []) {
        if (entry.resource?.id) currents.set(entry.resource.id, entry.resource)
      }
    }
    const open = await openConflictsOf(db, entityType, [...rows.keys()])

    for (const job of jobs) {
      const row = rows.get(job.entityId)
      if (!row) continue
      const current =
        row.fhir_version_id === null ? null : (currents.get(row.fhir_id ?? '') ?? null)
      const inStep =
        row.fhir_version_id === null
          ? true
          : current !== null && versionIdOf(current) === row.fhir_version_id
      if (!inStep) {
        singles.push(job)
        continue
      }
      const write = await this.#deps.push.resourceToWrite(
        entityType,
        row,
        current,
        subjects.get(row.id),
        open.get(row.id) ?? [],
      )
      if (write === null) {
        results.push({ job, outcome: 'unchanged' })
        continue
      }
      writes.push({
        job,
        row,
        ...write,
        ifMatchVersion: current ? versionIdOf(current) : null,
      })
    }
    return { writes, singles, waiting }
  }

  /**
   * Writes the rows in one transaction. Returns `conflict` when HAPI returned 409 or 412 (a
   * version moved on, or a resource the Bundle creates was created meanwhile), and `rejected` for
   * any other failure or no response.
   */
  // TODO: In the outbound benchmark HAPI 8.8 took updates in transaction Bundles at about half the
  // rate of single PUTs. So a batch of updates may go faster as parallel PUTs with If-Match.
  async #writeBundle(
    writes: readonly PreparedWrite[],
    requestId: string,
  ): Promise<BatchResult[] | 'conflict' | 'rejected'> {
    const { fhir, push, logger } = this.#deps
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: writes.map((write): BundleEntry => ({
        resource: write.resource,
        request: {
          method: 'PUT',
          url: `${write.resource.resourceType}/${write.resource.id ?? ''}`,
          ...(write.ifMatchVersion === null ? {} : { ifMatch: `W/"${write.ifMatchVersion}"` }),
        },
      })),
    }

    let response: Bundle
    try {
      response = await fhir.transaction(bundle, { requestId })
    } catch (error) {
      if (!(error instanceof FhirRequestError)) throw error
      if (error.isVersionConflict) {
        logger.info('Transaction Bundle of pushes met a newer version; preparing it again', {
          status: error.status,
          rows: writes.length,
        })
        return 'conflict'
      }
      logger.warn('Transaction Bundle of pushes failed; pushing its rows one by one', {
        ...errorFields(error),
        status: error.status,
        rows: writes.length,
      })
      return 'rejected'
    }

    const results: BatchResult[] = []
    const stored: { write: PreparedWrite; resource: FhirPatient | FhirCondition }[] = []
    const unknown: PreparedWrite[] = []
    for (const [index, write] of writes.entries()) {
      const resource = response.entry?.[index]?.resource as FhirPatient | FhirCondition | undefined
      if (resource?.resourceType === write.resource.resourceType) stored.push({ write, resource })
      else unknown.push(write)
    }
    await push.recordWrites(
      stored.map(({ write, resource }) => ({
        entityType: write.job.entityType,
        row: write.row,
        stored: resource,
        open: write.open,
      })),
    )
    for (const { write } of stored) results.push({ job: write.job, outcome: 'pushed-in-bundle' })
    // Without the stored version the sync point is unknown; the single push reads it.
    for (const write of unknown) {
      try {
        results.push({ job: write.job, outcome: await push.push(write.job, requestId) })
      } catch (error) {
        results.push({ job: write.job, error })
      }
    }
    logger.info('Rows pushed in one transaction Bundle', { rows: writes.length })
    return results
  }
}

/** Reads the rows of the jobs, deleted ones included, by id. */
async function rowsById(
  db: Kysely<Database>,
  entityType: EntityType,
  jobs: readonly PushJobData[],
): Promise<Map<string, PatientRow | ConditionRow>> {
  const table = entityType === 'patient' ? 'patients' : 'conditions'
  const rows = await rowsOf(
    db,
    table,
    jobs.map((job) => job.entityId),
  )
  return new Map(rows.map((row) => [row.id, row]))
}

async function rowsOf(
  db: Kysely<Database>,
  table: 'patients' | 'conditions',
  ids: readonly string[],
): Promise<(PatientRow | ConditionRow)[]> {
  if (ids.length === 0) return []
  return db
    .selectFrom(table as 'patients')
    .selectAll()
    .where('id', 'in', [...new Set(ids)])
    .execute()
}

/** Returns the open conflicts of the rows, by row id; a row without any has no entry. */
async function openConflictsOf(
  db: Kysely<Database>,
  entityType: EntityType,
  ids: readonly string[],
): Promise<Map<string, ConflictRow[]>> {
  const open = new Map<string, ConflictRow[]>()
  if (ids.length === 0) return open
  const rows = await db
    .selectFrom('conflicts')
    .selectAll()
    .where('entity_type', '=', entityType)
    .where('entity_id', 'in', ids)
    .where('status', '=', 'open')
    .execute()
  for (const row of rows) open.set(row.entity_id, [...(open.get(row.entity_id) ?? []), row])
  return open
}
