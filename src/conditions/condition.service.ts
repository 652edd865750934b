import type { Kysely } from 'kysely'
import type { AuditRepository, ChangeContext } from '../audit/audit.repository.ts'
import { userAuditEntry } from '../audit/change-context.ts'
import type { ChapterGCodeList } from '../fhir/code-validation.ts'
import { conditionFieldsFromResource } from '../fhir/condition-mapping.ts'
import type { FhirClient } from '../fhir/fhir-client.ts'
import { readFhirView } from '../fhir/fhir-view.ts'
import type { NeurologyValueSet } from '../fhir/neurology-value-set.ts'
import type { PatientRepository } from '../patients/patient.repository.ts'
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
import { sameValue } from '../platform/canonical-json.ts'
import { changedFieldNames, softDeleteRow } from '../platform/sync-columns.ts'
import { syncStatusOf } from '../platform/sync-dto.ts'
import {
  conditionFieldsOf,
  type ConditionFilter,
  type ConditionRepository,
  type ConditionView,
} from './condition.repository.ts'
import type { Condition, ConditionFhirView, ConditionFields } from './condition.schemas.ts'
import {
  findCodeFlags,
  validateConditionCode,
  validateConditionStatuses,
} from './condition.validation.ts'

export interface ConditionServiceDeps {
  db: Kysely<Database>
  conditions: ConditionRepository
  patients: PatientRepository
  audit: AuditRepository
  queue: JobQueue
  clock: Clock
  /** False when the sync mode makes FHIR the only writer of this type (`from-fhir`). */
  writable: boolean
  valueSet: NeurologyValueSet
  /** Reads the current FHIR Condition for the FHIR view of a condition. */
  fhir: Pick<FhirClient, 'readState'>
}

export interface ConditionListQuery {
  patientId?: string
  code?: string
  neurological?: 'true' | 'false'
  limit: number
  cursor?: string
}

/**
 * Converts a row to its API representation, with the codes that `chapterG` and the status value
 * sets flag.
 */
export function toCondition(row: ConditionView, chapterG: ChapterGCodeList): Condition {
  const fields = conditionFieldsOf(row)
  return {
    id: row.id,
    patientId: row.patient_id,
    source: row.source,
    ...fields,
    isNeurological: row.is_neurological,
    codeFlags: findCodeFlags(fields, chapterG),
    version: row.version,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    updatedBy: row.updated_by,
    sync: syncStatusOf(row),
  }
}

/** Sends the push job for a condition with the caller's transaction. */
export async function enqueueConditionPush(
  jobs: TransactionJobs,
  conditionId: string,
): Promise<void> {
  await jobs.send(
    QUEUES.fhirPush,
    { entityType: 'condition', entityId: conditionId },
    { singletonKey: pushSingletonKey({ entityType: 'condition', entityId: conditionId }) },
  )
}

/** Registry-side condition writes: each commits together with the job that pushes it to HAPI. */
export class ConditionService {
  readonly #deps: ConditionServiceDeps

  constructor(deps: ConditionServiceDeps) {
    this.#deps = deps
  }

  /**
   * Creates a condition of a registry patient, records the creation in the audit log and queues
   * the push to HAPI.
   */
  async create(
    input: ConditionFields & { patientId: string },
    context: ChangeContext,
  ): Promise<Condition> {
    const { db, conditions, patients, audit, queue, clock, valueSet } = this.#deps
    if (!this.#deps.writable) throw new ReadOnlyResourceTypeError('Condition')
    const { patientId, ...fields } = input
    this.#validateCode(fields)
    this.#validateStatuses(fields)
    const id = crypto.randomUUID()

    const row = await transactionWithJobs(db, queue, async (trx, jobs) => {
      const patient = await patients.findById(trx, patientId)
      if (!patient) {
        throw new ValidationError(`Patient ${patientId} was not found`, [
          { path: 'patientId', message: 'No live patient has this id' },
        ])
      }

      const now = clock.now()
      const inserted = await conditions.insert(trx, {
        id,
        patientId,
        source: 'registry',
        fields,
        isNeurological: valueSet.containsAny(fields.code.coding),
        updatedBy: context.actor,
        updatedAt: now,
        fhirId: id,
      })
      await audit.record(
        trx,
        userAuditEntry(context, {
          action: 'create',
          entityType: 'condition',
          entityId: id,
          before: null,
          after: conditionFieldsOf(inserted),
          occurredAt: now,
        }),
      )
      await enqueueConditionPush(jobs, id)
      return inserted
    })
    return toCondition(row, this.#deps.valueSet)
  }

  async get(id: string): Promise<Condition> {
    const row = await this.#deps.conditions.findViewById(this.#deps.db, id)
    if (!row) throw new NotFoundError('Condition', id)
    return toCondition(row, this.#deps.valueSet)
  }

  /**
   * Reads the condition's current FHIR Condition from HAPI, with its mapped fields. Raises the
   * same errors as the patient's FHIR view: 404 `NOT_IN_FHIR`, 404 `FHIR_RESOURCE_GONE` and 502
   * `FHIR_UNAVAILABLE`.
   */
  async getFhirView(id: string, logger: Logger): Promise<ConditionFhirView> {
    const row = await this.#deps.conditions.findViewById(this.#deps.db, id)
    if (!row) throw new NotFoundError('Condition', id)
    return readFhirView(this.#deps.fhir, 'Condition', row, conditionFieldsFromResource, logger)
  }

  async list(
    query: ConditionListQuery,
  ): Promise<{ items: Condition[]; nextCursor: string | null }> {
    const filter: ConditionFilter = { patientId: query.patientId }
    if (query.code) {
      const bar = query.code.lastIndexOf('|')
      filter.codeSystem = bar > 0 ? query.code.slice(0, bar) : undefined
      filter.code = bar >= 0 ? query.code.slice(bar + 1) : query.code
    }
    if (query.neurological) filter.isNeurological = query.neurological === 'true'
    const rows = await this.#deps.conditions.list(
      this.#deps.db,
      filter,
      query.limit + 1,
      decodeCursor(query.cursor, UUID_ID),
    )
    return toPage(rows, query.limit, (row) => toCondition(row, this.#deps.valueSet))
  }

  /**
   * Applies `changes` to the version the caller read, stamps the change time of each field that
   * differs, records the update in the audit log and queues the push. A stale `expectedVersion`
   * fails with 412.
   */
  async update(
    id: string,
    changes: Partial<ConditionFields>,
    expectedVersion: number | undefined,
    context: ChangeContext,
  ): Promise<Condition> {
    const { db, conditions, audit, queue, clock, valueSet } = this.#deps
    if (!this.#deps.writable) throw new ReadOnlyResourceTypeError('Condition')
    if (expectedVersion === undefined) throw new PreconditionRequiredError()
    if (changes.code) this.#validateCode({ code: changes.code })

    const row = await transactionWithJobs(db, queue, async (trx, jobs) => {
      const current = await conditions.findById(trx, id, { forUpdate: true })
      if (!current) throw new NotFoundError('Condition', id)
      if (current.version !== expectedVersion) {
        throw new VersionMismatchError('Condition', id, expectedVersion, current.version)
      }
      const before = conditionFieldsOf(current)
      const after: ConditionFields = { ...before, ...changes }
      this.#validateStatuses(after)
      // A write that changes nothing keeps its version, needs no push and is not audited.
      if (sameValue(before, after)) return current

      const now = clock.now()
      const updated = await conditions.updateFields(
        trx,
        id,
        after,
        valueSet.containsAny(after.code.coding),
        {
          updatedBy: context.actor,
          updatedAt: now,
          changedFields: changedFieldNames(before, after),
        },
      )
      await audit.record(
        trx,
        userAuditEntry(context, {
          action: 'update',
          entityType: 'condition',
          entityId: id,
          before,
          after: conditionFieldsOf(updated),
          occurredAt: now,
        }),
      )
      await enqueueConditionPush(jobs, id)
      return updated
    })
    return toCondition(row, this.#deps.valueSet)
  }

  /**
   * Deletes a condition in the registry and records the deletion in the audit log. The push
   * deletes it in HAPI.
   */
  async delete(
    id: string,
    expectedVersion: number | undefined,
    context: ChangeContext,
  ): Promise<void> {
    const { db, conditions, audit, queue, clock } = this.#deps
    if (!this.#deps.writable) throw new ReadOnlyResourceTypeError('Condition')
    if (expectedVersion === undefined) throw new PreconditionRequiredError()
    await transactionWithJobs(db, queue, async (trx, jobs) => {
      const current = await conditions.findById(trx, id, { forUpdate: true })
      if (!current) throw new NotFoundError('Condition', id)
      if (current.version !== expectedVersion) {
        throw new VersionMismatchError('Condition', id, expectedVersion, current.version)
      }

      const now = clock.now()
      await softDeleteRow(trx, 'conditions', id, { updatedBy: context.actor, updatedAt: now })
      await audit.record(
        trx,
        userAuditEntry(context, {
          action: 'delete',
          entityType: 'condition',
          entityId: id,
          before: conditionFieldsOf(current),
          after: null,
          occurredAt: now,
        }),
      )
      await enqueueConditionPush(jobs, id)
    })
  }

  #validateStatuses(fields: ConditionFields): void {
    const errors = validateConditionStatuses(fields)
    if (errors.length > 0) throw new ValidationError('The condition statuses conflict', errors)
  }

  #validateCode(fields: Pick<ConditionFields, 'code'>): void {
    const errors = validateConditionCode(fields, this.#deps.valueSet)
    if (errors.length > 0) throw new ValidationError('The condition code is invalid', errors)
  }
}
