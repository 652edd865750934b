import type { Kysely } from 'kysely'
import type { AuditRepository, ChangeContext } from '../audit/audit.repository.ts'
import { userAuditEntry } from '../audit/change-context.ts'
import { conditionFieldsOf, type ConditionRepository } from '../conditions/condition.repository.ts'
import type { FhirClient } from '../fhir/fhir-client.ts'
import { readFhirView } from '../fhir/fhir-view.ts'
import { patientFieldsFromResource } from '../fhir/patient-mapping.ts'
import type { Clock } from '../platform/clock.ts'
import type { Database } from '../platform/db.ts'
import {
  NotFoundError,
  PreconditionRequiredError,
  ValidationError,
  VersionMismatchError,
  ReadOnlyResourceTypeError,
} from '../platform/errors.ts'
import type { Logger } from '../platform/logger.ts'
import { UUID_ID, decodeCursor, toPage } from '../platform/paging.ts'
import {
  QUEUES,
  pushSingletonKey,
  transactionWithJobs,
  type JobQueue,
  type TransactionJobs,
} from '../platform/queue.ts'
import { changedFieldNames, softDeleteRow } from '../platform/sync-columns.ts'
import { sameValue } from '../platform/canonical-json.ts'
import { syncStatusOf } from '../platform/sync-dto.ts'
import {
  patientFieldsOf,
  type PatientFilter,
  type PatientRepository,
  type PatientView,
} from './patient.repository.ts'
import {
  checkDeathAfterBirth,
  type Patient,
  type PatientFhirView,
  type PatientFields,
} from './patient.schemas.ts'

export interface PatientServiceDeps {
  db: Kysely<Database>
  patients: PatientRepository
  conditions: ConditionRepository
  audit: AuditRepository
  queue: JobQueue
  clock: Clock
  /** False when the sync mode makes FHIR the only writer of this type (`from-fhir`). */
  writable: boolean
  /** System of the identifier the registry gives every patient. */
  registryIdentifierSystem: string
  /** Reads the current FHIR Patient for the FHIR view of a patient. */
  fhir: Pick<FhirClient, 'readState'>
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
export function toPatient(row: PatientView): Patient {
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
    { singletonKey: pushSingletonKey({ entityType: 'patient', entityId: patientId }) },
  )
}

/** Registry-side patient writes: each commits together with the job that pushes it to HAPI. */
export class PatientService {
  readonly #deps: PatientServiceDeps

  constructor(deps: PatientServiceDeps) {
    this.#deps = deps
  }

  /**
   * Creates a patient, gives it the registry identifier, records the creation in the audit log
   * and queues the push to HAPI.
   */
  async create(fields: PatientFields, context: ChangeContext): Promise<Patient> {
    const { db, patients, audit, queue, clock } = this.#deps
    if (!this.#deps.writable) throw new ReadOnlyResourceTypeError('Patient')
    this.#rejectRegistryIdentifier(fields)
    checkDeathAfterBirth(fields)
    const id = crypto.randomUUID()
    const withIdentifier: PatientFields = {
      ...fields,
      identifiers: [...fields.identifiers, this.#registryIdentifier(id)],
    }

    const row = await transactionWithJobs(db, queue, async (trx, jobs) => {
      const now = clock.now()
      const inserted = await patients.insert(trx, {
        id,
        source: 'registry',
        fields: withIdentifier,
        updatedBy: context.actor,
        updatedAt: now,
        fhirId: id,
      })
      await audit.record(
        trx,
        userAuditEntry(context, {
          action: 'create',
          entityType: 'patient',
          entityId: id,
          before: null,
          after: patientFieldsOf(inserted),
          occurredAt: now,
        }),
      )
      await enqueuePatientPush(jobs, id)
      return inserted
    })
    return toPatient(row)
  }

  async get(id: string): Promise<Patient> {
    const row = await this.#deps.patients.findViewById(this.#deps.db, id)
    if (!row) throw new NotFoundError('Patient', id)
    return toPatient(row)
  }

  /**
   * Reads the patient's current FHIR Patient from HAPI, with its mapped fields for a field by
   * field comparison. Raises 404 `NOT_IN_FHIR` for a patient never written to FHIR, 404
   * `FHIR_RESOURCE_GONE` when HAPI has no such resource or deleted it, and 502
   * `FHIR_UNAVAILABLE` when HAPI cannot be reached or fails.
   */
  async getFhirView(id: string, logger: Logger): Promise<PatientFhirView> {
    const row = await this.#deps.patients.findViewById(this.#deps.db, id)
    if (!row) throw new NotFoundError('Patient', id)
    return readFhirView(this.#deps.fhir, 'Patient', row, patientFieldsFromResource, logger)
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
      decodeCursor(query.cursor, UUID_ID),
    )
    return toPage(rows, query.limit, toPatient)
  }

  /**
   * Applies `changes` (every field for a replace, some for a patch) to the version the caller
   * read, stamps the change time of each field that differs, records the update in the audit log
   * and queues the push. A stale `expectedVersion` fails with 412.
   */
  async update(
    id: string,
    changes: Partial<PatientFields>,
    expectedVersion: number | undefined,
    context: ChangeContext,
  ): Promise<Patient> {
    const { db, patients, audit, queue, clock } = this.#deps
    if (!this.#deps.writable) throw new ReadOnlyResourceTypeError('Patient')
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
      if (changes.birthDate !== undefined || changes.deceased !== undefined) {
        checkDeathAfterBirth(after)
      }
      if (changes.identifiers) {
        // The registry identifier stays whatever the caller sends: it is how HAPI finds the patient.
        const own = before.identifiers.filter(
          (identifier) => identifier.system === this.#deps.registryIdentifierSystem,
        )
        after.identifiers = [...changes.identifiers, ...own]
      }
      // A write that changes nothing keeps its version, needs no push and is not audited.
      if (sameValue(before, after)) return current

      const now = clock.now()
      const updated = await patients.updateFields(trx, id, after, {
        updatedBy: context.actor,
        updatedAt: now,
        changedFields: changedFieldNames(before, after),
      })
      await audit.record(
        trx,
        userAuditEntry(context, {
          action: 'update',
          entityType: 'patient',
          entityId: id,
          before,
          after: patientFieldsOf(updated),
          occurredAt: now,
        }),
      )
      await enqueuePatientPush(jobs, id)
      return updated
    })
    return toPatient(row)
  }

  /**
   * Deletes a patient and its conditions in the registry and records one audit row for each of
   * them. The push deletes them in HAPI.
   */
  async delete(
    id: string,
    expectedVersion: number | undefined,
    context: ChangeContext,
  ): Promise<void> {
    const { db, patients, conditions, audit, queue, clock } = this.#deps
    if (!this.#deps.writable) throw new ReadOnlyResourceTypeError('Patient')
    if (expectedVersion === undefined) throw new PreconditionRequiredError()
    await transactionWithJobs(db, queue, async (trx, jobs) => {
      const current = await patients.findById(trx, id, { forUpdate: true })
      if (!current) throw new NotFoundError('Patient', id)
      if (current.version !== expectedVersion) {
        throw new VersionMismatchError('Patient', id, expectedVersion, current.version)
      }

      const change = { updatedBy: context.actor, updatedAt: clock.now() }
      const liveConditions = await conditions.listLiveByPatient(trx, id)
      for (const listed of liveConditions) {
        // Each condition is locked and read again, because a write or delete of it may have
        // committed since the list. So its audit row shows the deleted fields, and a condition
        // deleted meanwhile gets no second row.
        const condition = await conditions.findById(trx, listed.id, { forUpdate: true })
        if (!condition) continue
        await softDeleteRow(trx, 'conditions', condition.id, change)
        await audit.record(
          trx,
          userAuditEntry(context, {
            action: 'delete',
            entityType: 'condition',
            entityId: condition.id,
            before: conditionFieldsOf(condition),
            after: null,
            occurredAt: change.updatedAt,
          }),
        )
      }
      await softDeleteRow(trx, 'patients', id, change)
      await audit.record(
        trx,
        userAuditEntry(context, {
          action: 'delete',
          entityType: 'patient',
          entityId: id,
          before: patientFieldsOf(current),
          after: null,
          occurredAt: change.updatedAt,
        }),
      )
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
