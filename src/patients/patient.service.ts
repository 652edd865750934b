import type { Kysely } from 'kysely'
import type { ConditionRepository } from '../conditions/condition.repository.ts'
import type { Clock } from '../platform/clock.ts'
import type { Database } from '../platform/db.ts'
import {
  NotFoundError,
  PreconditionRequiredError,
  ValidationError,
  VersionMismatchError,
} from '../platform/errors.ts'
import { decodeCursor, toPage } from '../platform/paging.ts'
import {
  QUEUES,
  transactionWithJobs,
  type JobQueue,
  type TransactionJobs,
} from '../platform/queue.ts'
import { softDeleteRow } from '../platform/sync-columns.ts'
import { sameValue } from '../platform/canonical-json.ts'
import { syncStatusOf } from '../platform/sync-dto.ts'
import {
  patientFieldsOf,
  type PatientFilter,
  type PatientRepository,
  type PatientRow,
} from './patient.repository.ts'
import type { Patient, PatientFields } from './patient.schemas.ts'

export interface PatientServiceDeps {
  db: Kysely<Database>
  patients: PatientRepository
  conditions: ConditionRepository
  queue: JobQueue
  clock: Clock
  /** System of the identifier the registry gives every patient. */
  registryIdentifierSystem: string
}

export interface PatientListQuery extends Omit<
  PatientFilter,
  'identifierSystem' | 'identifierValue'
> {
  identifier?: string
  limit: number
  cursor?: string
}

/** Converts a row to its API representation. */
export function toPatient(row: PatientRow): Patient {
  return {
    id: row.id,
    source: row.source,
    ...patientFieldsOf(row),
    version: row.version,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    updatedBy: row.updated_by,
    sync: syncStatusOf(row),
  }
}

/** Sends the push job for a patient with the caller's transaction. */
export async function enqueuePatientPush(jobs: TransactionJobs, patientId: string): Promise<void> {
  await jobs.send(
    QUEUES.fhirPush,
    { entityType: 'patient', entityId: patientId },
    { singletonKey: `patient:${patientId}` },
  )
}

/** Registry-side patient writes: each commits together with the job that pushes it to HAPI. */
export class PatientService {
  readonly #deps: PatientServiceDeps

  constructor(deps: PatientServiceDeps) {
    this.#deps = deps
  }

  /** Creates a patient, gives it the registry identifier and queues the push to HAPI. */
  async create(fields: PatientFields, actor: string): Promise<Patient> {
    const { db, patients, queue, clock } = this.#deps
    this.#rejectRegistryIdentifier(fields)
    const id = crypto.randomUUID()
    const withIdentifier: PatientFields = {
      ...fields,
      identifiers: [...fields.identifiers, this.#registryIdentifier(id)],
    }

    const row = await transactionWithJobs(db, queue, async (trx, jobs) => {
      const inserted = await patients.insert(trx, {
        id,
        source: 'registry',
        fields: withIdentifier,
        updatedBy: actor,
        updatedAt: clock.now(),
        fhirId: id,
      })
      await enqueuePatientPush(jobs, id)
      return inserted
    })
    return toPatient(row)
  }

  async get(id: string): Promise<Patient> {
    const row = await this.#deps.patients.findById(this.#deps.db, id)
    if (!row) throw new NotFoundError('Patient', id)
    return toPatient(row)
  }

  async list(query: PatientListQuery): Promise<{ items: Patient[]; nextCursor: string | null }> {
    const filter: PatientFilter = {
      name: query.name,
      birthDatePrefix: query.birthDatePrefix,
      fhirId: query.fhirId,
    }
    if (query.identifier) {
      const bar = query.identifier.lastIndexOf('|')
      filter.identifierSystem = bar > 0 ? query.identifier.slice(0, bar) : undefined
      filter.identifierValue = bar >= 0 ? query.identifier.slice(bar + 1) : query.identifier
    }
    const rows = await this.#deps.patients.list(
      this.#deps.db,
      filter,
      query.limit + 1,
      decodeCursor(query.cursor),
    )
    return toPage(rows, query.limit, toPatient)
  }

  /**
   * Applies `changes` (every field for a replace, some for a patch) to the version the caller
   * read, and queues the push. A stale `expectedVersion` fails with 412.
   */
  async update(
    id: string,
    changes: Partial<PatientFields>,
    expectedVersion: number | undefined,
    actor: string,
  ): Promise<Patient> {
    const { db, patients, queue, clock } = this.#deps
    if (expectedVersion === undefined) throw new PreconditionRequiredError()
    if (changes.identifiers) this.#rejectRegistryIdentifier({ identifiers: changes.identifiers })

    const row = await transactionWithJobs(db, queue, async (trx, jobs) => {
      const current = await patients.findById(trx, id, { forUpdate: true })
      if (!current) throw new NotFoundError('Patient', id)
      if (current.version !== expectedVersion) {
        throw new VersionMismatchError('Patient', id, expectedVersion, current.version)
      }

      const before = patientFieldsOf(current)
      const after: PatientFields = { ...before, ...changes }
      if (changes.identifiers) {
        // The registry identifier stays whatever the caller sends: it is how HAPI finds the patient.
        const own = before.identifiers.filter(
          (identifier) => identifier.system === this.#deps.registryIdentifierSystem,
        )
        after.identifiers = [...changes.identifiers, ...own]
      }
      // A write that changes nothing keeps its version and needs no push.
      if (sameValue(before, after)) return current
      const updated = await patients.updateFields(trx, id, after, {
        updatedBy: actor,
        updatedAt: clock.now(),
      })
      await enqueuePatientPush(jobs, id)
      return updated
    })
    return toPatient(row)
  }

  /** Deletes a patient and its conditions in the registry; the push deletes them in HAPI. */
  async delete(id: string, expectedVersion: number | undefined, actor: string): Promise<void> {
    const { db, patients, queue, clock } = this.#deps
    if (expectedVersion === undefined) throw new PreconditionRequiredError()
    await transactionWithJobs(db, queue, async (trx, jobs) => {
      const current = await patients.findById(trx, id, { forUpdate: true })
      if (!current) throw new NotFoundError('Patient', id)
      if (current.version !== expectedVersion) {
        throw new VersionMismatchError('Patient', id, expectedVersion, current.version)
      }
      const change = { updatedBy: actor, updatedAt: clock.now() }
      const conditions = await this.#deps.conditions.listLiveByPatient(trx, id)
      for (const condition of conditions)
        await softDeleteRow(trx, 'conditions', condition.id, change)
      await softDeleteRow(trx, 'patients', id, change)
      await enqueuePatientPush(jobs, id)
    })
  }

  #registryIdentifier(id: string) {
    return { use: 'official' as const, system: this.#deps.registryIdentifierSystem, value: id }
  }

  #rejectRegistryIdentifier(fields: Pick<PatientFields, 'identifiers'>): void {
    const index = fields.identifiers.findIndex(
      (identifier) => identifier.system === this.#deps.registryIdentifierSystem,
    )
    if (index >= 0) {
      throw new ValidationError('The registry assigns its own identifier', [
        {
          path: `identifiers.${index}.system`,
          message: 'This system is reserved for the registry identifier',
        },
      ])
    }
  }
}
