import type {
  Bundle,
  BundleEntry,
  Condition as FhirCondition,
  Patient as FhirPatient,
} from '@medplum/fhirtypes'
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
 * Pushes many rows with one FHIR transaction Bundle. Only plain writes go into the Bundle: a live
 * row whose FHIR resource is at the version the registry recorded, or which was never written
 * and does not exist yet, and for a condition, whose patient is already in FHIR. Everything else
 * (deletes, rows FHIR changed meanwhile, which must be merged first) takes the single push. A
 * transaction is all or nothing, so when HAPI rejects the Bundle, for one bad entry or a version
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
    const writes: PreparedWrite[] = []

    for (const entityType of ['patient', 'condition'] as const) {
      const ofType = jobs.filter((job) => job.entityType === entityType)
      if (ofType.length === 0) continue
      try {
        const prepared = await this.#prepare(entityType, ofType, results)
        singles.push(...prepared.singles)
        writes.push(...prepared.writes)
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

    if (writes.length === 1) singles.push(...writes.map((write) => write.job))
    else if (writes.length > 1) {
      const written = await this.#writeBundle(writes, requestId)
      if (written) {
        results.push(...written)
      } else {
        singles.push(...writes.map((write) => write.job))
      }
    }

    for (const job of singles) {
      try {
        results.push({ job, outcome: await this.#deps.push.push(job, requestId) })
      } catch (error) {
        results.push({ job, error })
      }
    }
    return results
  }

  /** Splits one type's jobs into Bundle writes and single pushes, reading FHIR in one search. */
  async #prepare(
    entityType: EntityType,
    jobs: readonly PushJobData[],
    results: BatchResult[],
  ): Promise<{ writes: PreparedWrite[]; singles: PushJobData[] }> {
    const { db, patients, conditions, fhir } = this.#deps
    const writes: PreparedWrite[] = []
    const singles: PushJobData[] = []
    if (this.#deps.syncModes[RESOURCE_TYPE[entityType]].direction !== 'two-way') {
      return { writes, singles: [...jobs] }
    }

    const rows = new Map<string, PatientRow | ConditionRow>()
    const subjects = new Map<string, string>()
    for (const job of jobs) {
      const row =
        entityType === 'patient'
          ? await patients.findById(db, job.entityId, { includeDeleted: true })
          : await conditions.findById(db, job.entityId, { includeDeleted: true })
      if (!row?.fhir_id || row.deleted_at) {
        singles.push(job)
        continue
      }
      if ('patient_id' in row) {
        const patient = await patients.findById(db, row.patient_id, { includeDeleted: true })
        if (!patient?.fhir_id || patient.fhir_version_id === null || patient.deleted_at) {
          singles.push(job)
          continue
        }
        subjects.set(row.id, patient.fhir_id)
      }
      rows.set(job.entityId, row)
    }

    const fhirIds = [...rows.values()].map((row) => row.fhir_id ?? '')
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

    for (const job of jobs) {
      const row = rows.get(job.entityId)
      if (!row) continue
      const current = currents.get(row.fhir_id ?? '') ?? null
      const inStep =
        row.fhir_version_id === null
          ? current === null
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
    return { writes, singles }
  }

  /** Writes the rows in one transaction. Returns null when HAPI rejected it or sent no response. */
  async #writeBundle(
    writes: readonly PreparedWrite[],
    requestId: string,
  ): Promise<BatchResult[] | null> {
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
      logger.warn('Transaction Bundle of pushes failed; pushing its rows one by one', {
        ...errorFields(error),
        status: error.status,
        rows: writes.length,
      })
      return null
    }

    const results: BatchResult[] = []
    for (const [index, write] of writes.entries()) {
      const stored = response.entry?.[index]?.resource as FhirPatient | FhirCondition | undefined
      if (stored?.resourceType !== write.resource.resourceType) {
        // Without the stored version the sync point is unknown; the single push reads it.
        try {
          results.push({ job: write.job, outcome: await push.push(write.job, requestId) })
        } catch (error) {
          results.push({ job: write.job, error })
        }
        continue
      }
      await push.recordWrite(write.job.entityType, write.row, stored, write.open)
      results.push({ job: write.job, outcome: 'pushed-in-bundle' })
    }
    logger.info('Rows pushed in one transaction Bundle', { rows: writes.length })
    return results
  }
}
