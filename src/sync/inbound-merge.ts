import type {
  Condition as FhirCondition,
  Patient as FhirPatient,
  Reference,
  Resource,
} from '@medplum/fhirtypes'
import type { Kysely } from 'kysely'
import { sql } from 'kysely'
import { enqueueConditionPush } from '../conditions/condition.service.ts'
import type { ConditionRepository } from '../conditions/condition.repository.ts'
import type { ConflictRepository } from '../conflicts/conflict.repository.ts'
import { conditionFieldsFromResource, patientIdFromReference } from '../fhir/condition-mapping.ts'
import { versionIdOf, type FhirClient } from '../fhir/fhir-client.ts'
import type { NeurologyValueSet } from '../fhir/neurology-value-set.ts'
import { patientFieldsFromResource } from '../fhir/patient-mapping.ts'
import type { PatientRepository } from '../patients/patient.repository.ts'
import { enqueuePatientPush } from '../patients/patient.service.ts'
import type { Clock } from '../platform/clock.ts'
import type { Database, Executor } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import { transactionWithJobs, type JobQueue } from '../platform/queue.ts'
import { recordSyncPoint, setSyncState, softDeleteRow } from '../platform/sync-columns.ts'
import {
  conditionEntity,
  patientEntity,
  type ConditionEntity,
  type PatientEntity,
  type SyncedEntity,
  type SyncedRow,
} from './synced-entities.ts'
import { sameValue } from '../platform/canonical-json.ts'
import { mergeThreeWay } from './three-way-merge.ts'

/** Actor recorded on registry rows that a FHIR-side change updated. */
export const FHIR_MERGE_ACTOR = 'fhir-merge'

/** Result of applying one FHIR change, stored on the notification and logged. */
export type MergeOutcome =
  | 'merged'
  | 'merged-with-conflicts'
  | 'unchanged'
  | 'stale'
  | 'own-write'
  | 'enrolled'
  | 'created'
  | 'not-enrolled'
  | 'deleted'
  | 'delete-conflict'
  | 'already-deleted'
  | 'unknown-deleted'

export interface InboundMergeDeps {
  db: Kysely<Database>
  patients: PatientRepository
  conditions: ConditionRepository
  conflicts: ConflictRepository
  queue: JobQueue
  fhir: FhirClient
  valueSet: NeurologyValueSet
  clock: Clock
  logger: Logger
  registryIdentifierSystem: string
  /** `meta.source` of the registry's own writes; versions carrying it are echoes. */
  sourceUri: string
  clockSkewMs: number
}

/**
 * Applies FHIR-side changes to the registry: echo suppression, enrolment of new neurology
 * patients, and the three-way, field-level merge against each row's sync base.
 */
export class InboundMerge {
  readonly #deps: InboundMergeDeps
  readonly #patient: PatientEntity
  readonly #condition: ConditionEntity

  constructor(deps: InboundMergeDeps) {
    this.#deps = deps
    this.#patient = patientEntity(deps.patients, deps.registryIdentifierSystem)
    this.#condition = conditionEntity(deps.conditions, deps.valueSet)
  }

  /** Applies the given version of a Patient. */
  async applyPatient(resource: FhirPatient): Promise<MergeOutcome> {
    const fhirId = resource.id ?? ''
    const known = await this.#patient.findByFhirId(this.#deps.db, fhirId)
    if (known) return this.#mergeKnown(this.#patient, resource)
    if (this.#isOwnWrite(resource)) return 'own-write'

    const hasRegistryIdentifier = (resource.identifier ?? []).some(
      (identifier) => identifier.system === this.#deps.registryIdentifierSystem,
    )
    const conditions = await this.#deps.fhir.searchAll<FhirCondition>('Condition', {
      subject: `Patient/${fhirId}`,
      _count: '200',
    })
    const neurological = conditions.some((condition) =>
      this.#deps.valueSet.containsAny(condition.code?.coding),
    )
    if (!hasRegistryIdentifier && !neurological) return 'not-enrolled'
    return this.#enrol(resource, conditions)
  }

  /** Applies the given version of a Condition, enrolling its patient when it is neurological. */
  async applyCondition(resource: FhirCondition): Promise<MergeOutcome> {
    const known = await this.#condition.findByFhirId(this.#deps.db, resource.id ?? '')
    if (known) return this.#mergeKnown(this.#condition, resource)
    if (this.#isOwnWrite(resource)) return 'own-write'

    const subjectId = patientIdFromReference((resource.subject as Reference | undefined)?.reference)
    if (subjectId === null) return 'not-enrolled'
    const patient = await this.#deps.patients.findByFhirId(this.#deps.db, subjectId)
    if (patient && patient.deleted_at === null) {
      return this.#deps.db.transaction().execute(async (trx) => {
        await this.#lockResource(trx, `Condition/${resource.id ?? ''}`)
        return (await this.#insertCondition(trx, patient.id, resource)) ? 'created' : 'unchanged'
      })
    }
    if (patient || !this.#deps.valueSet.containsAny(resource.code?.coding)) return 'not-enrolled'

    // A neurological condition of a patient the registry does not know yet: pull the patient in.
    const subject = await this.#deps.fhir.read<FhirPatient>('Patient', subjectId)
    if (!subject) return 'not-enrolled'
    const conditions = await this.#deps.fhir.searchAll<FhirCondition>('Condition', {
      subject: `Patient/${subjectId}`,
      _count: '200',
    })
    return this.#enrol(subject, conditions)
  }

  /** Applies a FHIR-side delete: soft-deletes the row unless the registry changed it since the base. */
  async applyDeletion(
    resourceType: 'Patient' | 'Condition',
    fhirId: string,
  ): Promise<MergeOutcome> {
    return resourceType === 'Patient'
      ? this.#deleteKnown(this.#patient, fhirId)
      : this.#deleteKnown(this.#condition, fhirId)
  }

  async #deleteKnown<
    Row extends SyncedRow,
    Fields extends Record<string, unknown>,
    R extends Resource,
  >(entity: SyncedEntity<Row, Fields, R>, fhirId: string): Promise<MergeOutcome> {
    const { db, clock, conflicts } = this.#deps

    return db.transaction().execute(async (trx) => {
      const row = await entity.findByFhirId(trx, fhirId, { forUpdate: true })
      if (!row) return 'unknown-deleted'
      if (row.deleted_at) return 'already-deleted'

      const now = clock.now()
      if (!sameValue(entity.fieldsOfRow(row), row.sync_base)) {
        await conflicts.record(
          trx,
          {
            entityType: entity.entityType,
            entityId: row.id,
            fieldPath: '(deleted)',
            itemKey: null,
            baseValue: row.sync_base,
            registryValue: entity.fieldsOfRow(row),
            fhirValue: null,
            registryVersion: row.version,
            fhirVersionId: row.fhir_version_id ?? 0,
            registryUpdatedAt: row.updated_at,
            fhirUpdatedAt: null,
            status: 'open',
            resolution: null,
          },
          now,
        )
        await setSyncState(trx, entity.table, row.id, 'conflict')
        return 'delete-conflict'
      }

      await softDeleteRow(trx, entity.table, row.id, {
        updatedBy: FHIR_MERGE_ACTOR,
        updatedAt: now,
      })
      // The FHIR side is already gone, so the deletion needs no push.
      await setSyncState(trx, entity.table, row.id, 'synced')
      return 'deleted'
    })
  }

  async #mergeKnown<
    Row extends SyncedRow,
    Fields extends Record<string, unknown>,
    R extends Resource,
  >(entity: SyncedEntity<Row, Fields, R>, resource: R): Promise<MergeOutcome> {
    const { db, clock, conflicts, queue, logger } = this.#deps
    const version = versionIdOf(resource)
    const fhirFields = entity.fieldsOfResource(resource)
    const fhirUpdatedAt = resource.meta?.lastUpdated ? new Date(resource.meta.lastUpdated) : null

    return transactionWithJobs(db, queue, async (trx, jobs) => {
      const row = await entity.findByFhirId(trx, resource.id ?? '', { forUpdate: true })
      if (!row) return 'stale'
      if (row.fhir_version_id !== null && version <= row.fhir_version_id) return 'stale'

      if (this.#isOwnWrite(resource)) {
        // The registry wrote this version but its push has not recorded it yet: it becomes the
        // base as written, and the registry's later edits stay registry-side changes.
        await recordSyncPoint(trx, entity.table, row.id, {
          fhirVersionId: version,
          fhirLastUpdated: fhirUpdatedAt,
          base: fhirFields,
          rowVersion: row.version,
          inStep: sameValue(entity.fieldsOfRow(row), fhirFields),
        })
        return 'own-write'
      }
      if (row.deleted_at) {
        // TODO: a FHIR edit of a row the registry deleted should raise a conflict; the pending push deletes it instead.
        return 'stale'
      }

      const registryFields = entity.fieldsOfRow(row)
      const { merged, clashes, registryChanged, fhirBehind } = mergeThreeWay(
        row.sync_base as Fields | null,
        registryFields,
        fhirFields,
        {
          registryUpdatedAt: row.updated_at,
          fhirUpdatedAt,
          clockSkewMs: this.#deps.clockSkewMs,
        },
        { keepRegistryOwned: entity.keepRegistryOwned },
      )
      const now = clock.now()
      let current = row
      if (registryChanged) {
        current = await entity.updateFields(trx, row, merged, {
          updatedBy: FHIR_MERGE_ACTOR,
          updatedAt: now,
        })
      }
      for (const clash of clashes) {
        await conflicts.record(
          trx,
          {
            entityType: entity.entityType,
            entityId: row.id,
            fieldPath: clash.field,
            itemKey: null,
            baseValue: clash.base,
            registryValue: clash.registry,
            fhirValue: clash.fhir,
            registryVersion: row.version,
            fhirVersionId: version,
            registryUpdatedAt: row.updated_at,
            fhirUpdatedAt,
            status: clash.resolution === null ? 'open' : 'resolved',
            resolution: clash.resolution,
          },
          now,
        )
        logger.warn('Field changed on both sides', {
          entityType: entity.entityType,
          entityId: row.id,
          field: clash.field,
          resolution: clash.resolution ?? 'open',
        })
      }
      await recordSyncPoint(trx, entity.table, row.id, {
        fhirVersionId: version,
        fhirLastUpdated: fhirUpdatedAt,
        base: fhirFields,
        rowVersion: current.version,
        inStep: !fhirBehind,
      })
      // TODO: an open clash still lets the push carry the registry value to FHIR; it should hold
      // the field back until a steward resolves the conflict.
      if (clashes.some((clash) => clash.resolution === null)) {
        await setSyncState(trx, entity.table, row.id, 'conflict')
      }
      if (fhirBehind) {
        if (entity.entityType === 'patient') await enqueuePatientPush(jobs, row.id)
        else await enqueueConditionPush(jobs, row.id)
      }

      if (clashes.length > 0) return 'merged-with-conflicts'
      return registryChanged ? 'merged' : 'unchanged'
    })
  }

  /**
   * Creates the registry patient for a FHIR Patient, with all its conditions, and queues the
   * push that adds the registry identifier in FHIR. The hospital's identifiers stay as they are.
   */
  async #enrol(resource: FhirPatient, conditions: readonly FhirCondition[]): Promise<MergeOutcome> {
    const { db, patients, queue, clock, logger } = this.#deps
    const fhirId = resource.id ?? ''
    const fhirFields = patientFieldsFromResource(resource)

    const outcome = await transactionWithJobs(db, queue, async (trx, jobs) => {
      await this.#lockResource(trx, `Patient/${fhirId}`)
      if (await patients.findByFhirId(trx, fhirId)) return 'unchanged' as const

      const id = crypto.randomUUID()
      const hasIdentifier = fhirFields.identifiers.some(
        (identifier) => identifier.system === this.#deps.registryIdentifierSystem,
      )
      const fields = hasIdentifier
        ? fhirFields
        : {
            ...fhirFields,
            identifiers: [
              ...fhirFields.identifiers,
              { use: 'secondary' as const, system: this.#deps.registryIdentifierSystem, value: id },
            ],
          }
      await patients.insert(trx, {
        id,
        source: 'external',
        fields,
        updatedBy: FHIR_MERGE_ACTOR,
        updatedAt: clock.now(),
        fhirId,
        fhirVersionId: versionIdOf(resource),
        fhirLastUpdated: resource.meta?.lastUpdated ? new Date(resource.meta.lastUpdated) : null,
        syncBase: fhirFields,
        syncState: hasIdentifier ? 'synced' : 'pending',
      })
      for (const condition of conditions) await this.#insertCondition(trx, id, condition)
      if (!hasIdentifier) await enqueuePatientPush(jobs, id)
      return 'enrolled' as const
    })
    if (outcome === 'enrolled')
      logger.info('Patient enrolled from FHIR', {
        fhirId: `Patient/${fhirId}`,
        conditions: conditions.length,
      })
    return outcome
  }

  /** Inserts an external condition unless the registry has it already; true when inserted. */
  async #insertCondition(
    db: Executor,
    patientId: string,
    resource: FhirCondition,
  ): Promise<boolean> {
    const { conditions, clock } = this.#deps
    const fhirId = resource.id ?? ''
    if (await conditions.findByFhirId(db, fhirId)) return false
    const fields = conditionFieldsFromResource(resource)
    await conditions.insert(db, {
      id: crypto.randomUUID(),
      patientId,
      source: 'external',
      fields,
      isNeurological: this.#deps.valueSet.containsAny(fields.code.coding),
      updatedBy: FHIR_MERGE_ACTOR,
      updatedAt: clock.now(),
      fhirId,
      fhirVersionId: versionIdOf(resource),
      fhirLastUpdated: resource.meta?.lastUpdated ? new Date(resource.meta.lastUpdated) : null,
      syncBase: fields,
      syncState: 'synced',
    })
    return true
  }

  /** Serialises enrolment of one FHIR resource across processes, for the rest of the transaction. */
  async #lockResource(db: Executor, reference: string): Promise<void> {
    await sql`select pg_advisory_xact_lock(hashtext(${reference}))`.execute(db)
  }

  #isOwnWrite(resource: Resource): boolean {
    return resource.meta?.source?.startsWith(this.#deps.sourceUri) ?? false
  }
}
