import type {
  Condition as FhirCondition,
  Patient as FhirPatient,
  Reference,
  Resource,
} from '@medplum/fhirtypes'
import type { Kysely } from 'kysely'
import { sql } from 'kysely'
import type { AuditRepository } from '../audit/audit.repository.ts'
import { enqueueConditionPush } from '../conditions/condition.service.ts'
import type { ConditionRepository } from '../conditions/condition.repository.ts'
import {
  BOTH_DELETED_REASON,
  DELETION_FIELD,
  type ConflictRepository,
  type ConflictRow,
} from '../conflicts/conflict.repository.ts'
import { conditionFieldsFromResource, patientIdFromReference } from '../fhir/condition-mapping.ts'
import { versionIdOf, type FhirClient } from '../fhir/fhir-client.ts'
import type { NeurologyValueSet } from '../fhir/neurology-value-set.ts'
import { patientFieldsFromResource } from '../fhir/patient-mapping.ts'
import { mergeFields, partValue, withHeldBackParts, type MergeView } from '../merge/field-merge.ts'
import type { MergeRules } from '../merge/merge-rules.ts'
import type { SubjectResolver, UnresolvedSubjectReason } from './subject-resolver.ts'
import type { PatientRepository } from '../patients/patient.repository.ts'
import { enqueuePatientPush } from '../patients/patient.service.ts'
import { sameValue } from '../platform/canonical-json.ts'
import type { Clock } from '../platform/clock.ts'
import type { Database, Executor } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import { transactionWithJobs, type JobQueue, type TransactionJobs } from '../platform/queue.ts'
import {
  recordSeenFhirVersion,
  recordSyncPoint,
  setSyncState,
  softDeleteRow,
} from '../platform/sync-columns.ts'
import {
  conditionEntity,
  patientEntity,
  type ConditionEntity,
  type PatientEntity,
  type SyncedEntity,
  type SyncedRow,
} from './synced-entities.ts'

/** Actor recorded on registry rows and audit entries that a FHIR-side change caused. */
export const FHIR_MERGE_ACTOR = 'fhir-merge'

/** Merge field of the patient's registry identifier, split from the hospital's identifiers. */
const REGISTRY_IDENTIFIER_FIELD = 'registryIdentifier'

/** Start of the outcome of a merge that waits, followed by the reason. */
export const PARKED_PREFIX = 'parked:'

/** A Condition whose subject could not be resolved yet; the worker retries it later. */
export type ParkedOutcome = `${typeof PARKED_PREFIX}${UnresolvedSubjectReason}`

export function isParked(outcome: MergeOutcome): outcome is ParkedOutcome {
  return outcome.startsWith(PARKED_PREFIX)
}

/** Result of applying one FHIR change, stored on the notification and logged. */
export type MergeOutcome =
  | ParkedOutcome
  | 'merged'
  | 'merged-with-conflicts'
  | 'unchanged'
  | 'stale'
  | 'own-write'
  | 'enrolled'
  | 'created'
  | 'not-enrolled'
  | 'identifier-taken'
  | 'deleted'
  | 'delete-conflict'
  | 'already-deleted'
  | 'unknown-deleted'

export interface InboundMergeDeps {
  db: Kysely<Database>
  patients: PatientRepository
  conditions: ConditionRepository
  conflicts: ConflictRepository
  audit: AuditRepository
  queue: JobQueue
  fhir: FhirClient
  valueSet: NeurologyValueSet
  clock: Clock
  logger: Logger
  rules: MergeRules
  subjects: SubjectResolver
  registryIdentifierSystem: string
  /** `meta.source` of the registry's own writes; versions carrying it are echoes. */
  sourceUri: string
  clockSkewMs: number
}

type AnyEntity = SyncedEntity<SyncedRow, Record<string, unknown>, Resource>

/**
 * Applies FHIR-side changes to the registry: echo suppression, enrolment of new neurology
 * patients, deletes, and the three-way merge of each field by its rule against the row's sync
 * base. Every change it makes to a row is written to the audit log with the job's id.
 */
export class InboundMerge {
  readonly #deps: InboundMergeDeps
  readonly #patient: PatientEntity
  readonly #condition: ConditionEntity

  constructor(deps: InboundMergeDeps) {
    this.#deps = deps
    this.#patient = patientEntity(deps.patients, deps.rules, deps.registryIdentifierSystem)
    this.#condition = conditionEntity(deps.conditions, deps.rules, deps.valueSet)
  }

  /** Returns the per-type operations (views, shapes) that the push also needs. */
  entity(entityType: 'patient' | 'condition'): AnyEntity {
    return entityType === 'patient' ? this.#patient : this.#condition
  }

  /**
   * True when the registry changed the row since the last point both sides agreed, so a FHIR
   * delete must not drop it unseen. The registry identifier does not count: the registry adds it
   * at enrolment, before its push reaches FHIR. A patient also counts as changed while it has conditions the
   * registry created that never reached FHIR.
   */
  async #changedSinceBase(
    db: Executor,
    entity: AnyEntity,
    row: SyncedRow,
    fields: Record<string, unknown>,
  ): Promise<boolean> {
    const view = entity.toView(fields)
    const baseView =
      row.sync_base === null ? null : entity.toView(row.sync_base as Record<string, unknown>)
    for (const [field, value] of Object.entries(view)) {
      if (field === REGISTRY_IDENTIFIER_FIELD) continue
      if (!sameValue(value, baseView?.[field] ?? null)) return true
    }
    if (entity.entityType !== 'patient') return false
    const conditions = await this.#deps.conditions.listLiveByPatient(db, row.id)
    return conditions.some((condition) => condition.fhir_version_id === null)
  }

  /** Closes the open conflicts of a row deleted on both sides and marks it synced. */
  async #settleBothDeleted(db: Executor, entity: AnyEntity, id: string, now: Date): Promise<void> {
    await this.#deps.conflicts.dismissOpenByEntity(
      db,
      { entityType: entity.entityType, entityId: id },
      { resolvedBy: FHIR_MERGE_ACTOR, reason: BOTH_DELETED_REASON, fieldsOnly: false },
      now,
    )
    await setSyncState(db, entity.table, id, 'synced')
  }

  /** Applies the given version of a Patient. */
  async applyPatient(resource: FhirPatient, requestId: string | null): Promise<MergeOutcome> {
    const fhirId = resource.id ?? ''
    const known = await this.#patient.findByFhirId(this.#deps.db, fhirId)
    if (known) return this.#mergeKnown(this.#patient, resource, requestId)
    if (this.#isOwnWrite(resource)) return 'own-write'

    if (await this.#carriesTakenIdentifier(resource)) return 'identifier-taken'

    const registryIdentifiers = (resource.identifier ?? []).filter(
      (identifier) => identifier.system === this.#deps.registryIdentifierSystem,
    )
    const conditions = await this.#deps.fhir.searchAll<FhirCondition>('Condition', {
      subject: `Patient/${fhirId}`,
      _count: '200',
    })
    const neurological = conditions.some((condition) =>
      this.#deps.valueSet.containsAny(condition.code?.coding),
    )
    if (registryIdentifiers.length === 0 && !neurological) return 'not-enrolled'
    return this.#enrol(resource, conditions, requestId)
  }

  /** Applies the given version of a Condition, enrolling its patient when it is neurological. */
  async applyCondition(resource: FhirCondition, requestId: string | null): Promise<MergeOutcome> {
    const known = await this.#condition.findByFhirId(this.#deps.db, resource.id ?? '')
    if (known) return this.#mergeKnown(this.#condition, resource, requestId)
    if (this.#isOwnWrite(resource)) return 'own-write'

    const neurological = this.#deps.valueSet.containsAny(resource.code?.coding)
    const subject = resource.subject as Reference | undefined
    const subjectId = patientIdFromReference(subject?.reference)
    if (subjectId !== null) {
      // The common case needs no FHIR read: a literal reference to a patient the registry has.
      const patient = await this.#deps.patients.findByFhirId(this.#deps.db, subjectId)
      if (patient) return this.#addCondition(patient, resource, requestId)
      if (!neurological) return 'not-enrolled'
    } else if (!neurological && subject?.reference !== undefined) {
      return 'not-enrolled'
    }

    // A neurological condition of a patient the registry does not know yet, or a subject named
    // by identifier: find the Patient in FHIR, and pull it in.
    const resolution = await this.#deps.subjects.resolve(resource)
    if (resolution.kind === 'not-a-patient') return 'not-enrolled'
    if (resolution.kind === 'unresolved') {
      return neurological ? `${PARKED_PREFIX}${resolution.reason}` : 'not-enrolled'
    }
    const patientFhirId = resolution.patient.id ?? ''
    const patient = await this.#deps.patients.findByFhirId(this.#deps.db, patientFhirId)
    if (patient) return this.#addCondition(patient, resource, requestId)
    if (!neurological) return 'not-enrolled'
    if (await this.#carriesTakenIdentifier(resolution.patient)) return 'identifier-taken'

    const conditions = await this.#deps.fhir.searchAll<FhirCondition>('Condition', {
      subject: `Patient/${patientFhirId}`,
      _count: '200',
    })
    // A Condition that names its subject by identifier is not found by the subject search.
    const all = conditions.some((condition) => condition.id === resource.id)
      ? conditions
      : [...conditions, resource]
    return this.#enrol(resolution.patient, all, requestId)
  }

  /** Adds a FHIR Condition to a registry patient, unless the patient was deleted. */
  async #addCondition(
    patient: {
      id: string
      deleted_at: Date | null
      sync_state: string
      fhir_version_id: number | null
    },
    resource: FhirCondition,
    requestId: string | null,
  ): Promise<MergeOutcome> {
    const { deleted_at: deletedAt } = patient
    // A patient whose delete already reached FHIR (or who never was there) takes no conditions.
    if (
      deletedAt !== null &&
      (patient.sync_state === 'synced' || patient.fhir_version_id === null)
    ) {
      return 'not-enrolled'
    }
    return this.#deps.db.transaction().execute(async (trx) => {
      await this.#lockResource(trx, `Condition/${resource.id ?? ''}`)
      const inserted = await this.#insertCondition(trx, patient.id, resource, requestId)
      if (!inserted) return 'unchanged'
      if (deletedAt === null) return 'created'
      await this.#deletedWithPatient(trx, resource, deletedAt)
      return 'delete-conflict'
    })
  }

  /**
   * Handles a Condition that FHIR added to a patient whose registry delete has not reached FHIR
   * yet. The condition is kept, deleted with its patient, in a `(deleted)` conflict: the
   * patient's delete waits for the steward, so the hospital's addition is never deleted unseen.
   */
  async #deletedWithPatient(db: Executor, resource: FhirCondition, deletedAt: Date): Promise<void> {
    const { conditions, conflicts, clock } = this.#deps
    const row = await conditions.findByFhirId(db, resource.id ?? '')
    if (!row) throw new Error(`Condition ${resource.id ?? ''} vanished after its insert`)
    await softDeleteRow(db, 'conditions', row.id, {
      updatedBy: FHIR_MERGE_ACTOR,
      updatedAt: deletedAt,
    })
    const fields = conditionFieldsFromResource(resource)
    await conflicts.record(
      db,
      {
        entityType: 'condition',
        entityId: row.id,
        fieldPath: DELETION_FIELD,
        itemKey: null,
        baseValue: null,
        registryValue: null,
        fhirValue: fields,
        registryVersion: row.version + 1,
        fhirVersionId: versionIdOf(resource),
        registryUpdatedAt: deletedAt,
        fhirUpdatedAt: resource.meta?.lastUpdated ? new Date(resource.meta.lastUpdated) : null,
        status: 'open',
        resolution: null,
      },
      clock.now(),
    )
    await setSyncState(db, 'conditions', row.id, 'conflict')
  }

  /**
   * Applies a FHIR-side delete: soft-deletes the row, unless the registry changed it since the
   * base, which opens a delete-versus-edit conflict for a steward.
   */
  async applyDeletion(
    resourceType: 'Patient' | 'Condition',
    fhirId: string,
    requestId: string | null,
  ): Promise<MergeOutcome> {
    const entity = this.entity(resourceType === 'Patient' ? 'patient' : 'condition')
    const { db, clock, conflicts, audit } = this.#deps

    return db.transaction().execute(async (trx) => {
      const row = await entity.findByFhirId(trx, fhirId, { forUpdate: true })
      if (!row) return 'unknown-deleted'
      const now = clock.now()
      if (row.deleted_at) {
        // Deleted on both sides: no push or steward has anything left to do.
        await this.#settleBothDeleted(trx, entity, row.id, now)
        return 'already-deleted'
      }
      // No FHIR version recorded: the row was never written to FHIR, or a steward chose to keep
      // it after this delete, and its push creates the resource again.
      if (row.fhir_version_id === null) return 'stale'

      const fields = entity.fieldsOfRow(row)
      if (await this.#changedSinceBase(trx, entity, row, fields)) {
        await conflicts.record(
          trx,
          {
            entityType: entity.entityType,
            entityId: row.id,
            fieldPath: DELETION_FIELD,
            itemKey: null,
            baseValue: row.sync_base,
            registryValue: fields,
            fhirValue: null,
            registryVersion: row.version,
            fhirVersionId: row.fhir_version_id,
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
      await audit.record(trx, {
        ...this.#auditOrigin(requestId, now),
        action: 'delete',
        entityType: entity.entityType,
        entityId: row.id,
        before: fields,
        after: null,
      })
      return 'deleted'
    })
  }

  /**
   * Closes the row's open field conflicts whose part now has the same value on both sides, as after
   * a registry edit that took FHIR's value, and returns the ones still open (deletion conflicts
   * aside). The push calls it, because such an edit reaches no merge.
   */
  async settleConflicts(
    entityType: 'patient' | 'condition',
    entityId: string,
    registryFields: Record<string, unknown>,
    fhirFields: Record<string, unknown>,
  ): Promise<ConflictRow[]> {
    const entity = this.entity(entityType)
    return this.#settleConverged(
      this.#deps.db,
      entity,
      { entityType, entityId },
      entity.toView(registryFields),
      entity.toView(fhirFields),
      this.#deps.clock.now(),
    )
  }

  async #mergeKnown<
    Row extends SyncedRow,
    Fields extends Record<string, unknown>,
    R extends Resource,
  >(
    entity: SyncedEntity<Row, Fields, R>,
    resource: R,
    requestId: string | null,
  ): Promise<MergeOutcome> {
    const { db, clock, queue } = this.#deps
    const version = versionIdOf(resource)
    const fhirFields = entity.fieldsOfResource(resource)
    const fhirUpdatedAt = resource.meta?.lastUpdated ? new Date(resource.meta.lastUpdated) : null

    return transactionWithJobs(db, queue, async (trx, jobs) => {
      const row = await entity.findByFhirId(trx, resource.id ?? '', { forUpdate: true })
      if (!row) return 'stale'
      if (row.fhir_version_id !== null && version <= row.fhir_version_id) return 'stale'

      // The registry wrote this version but its push has not recorded it yet: it becomes the base
      // as written. The registry's source alone does not prove that, because a client that reads
      // a resource, edits it and writes it back keeps its meta.source. So only a version with the
      // row's own fields counts. An own write that the registry edited since is merged like any
      // FHIR change, which may raise a conflict where there is none rather than drop an edit.
      if (this.#isOwnWrite(resource) && sameValue(entity.fieldsOfRow(row), fhirFields)) {
        await recordSyncPoint(trx, entity.table, row.id, {
          fhirVersionId: version,
          fhirLastUpdated: fhirUpdatedAt,
          base: fhirFields,
          rowVersion: row.version,
          inStep: true,
        })
        return 'own-write'
      }

      const point = { version, fhirUpdatedAt, fhirFields, now: clock.now() }
      if (row.deleted_at) return this.#editOfDeletedRow(trx, jobs, entity, row, point)
      return this.#mergeFields(trx, jobs, entity, row, point, requestId)
    })
  }

  async #mergeFields<Row extends SyncedRow, Fields extends Record<string, unknown>>(
    trx: Executor,
    jobs: TransactionJobs,
    entity: SyncedEntity<Row, Fields, Resource>,
    row: Row,
    point: { version: number; fhirUpdatedAt: Date | null; fhirFields: Fields; now: Date },
    requestId: string | null,
  ): Promise<MergeOutcome> {
    const { conflicts, audit, logger } = this.#deps
    const registryFields = entity.fieldsOfRow(row)
    const fhirView = entity.toView(point.fhirFields)
    const result = mergeFields({
      base: row.sync_base === null ? null : entity.toView(row.sync_base as Fields),
      registry: entity.toView(registryFields),
      fhir: fhirView,
      shapes: entity.shapes,
      rules: entity.rules,
      times: {
        registryChangedAt: (field) => entity.registryChangedAt(row, field),
        fhirChangedAt: point.fhirUpdatedAt,
        clockSkewMs: this.#deps.clockSkewMs,
      },
    })
    const mergedFields = entity.fromView(result.merged)
    const origin = this.#auditOrigin(requestId, point.now)
    const ids = { entityType: entity.entityType, entityId: row.id }

    let current = row
    if (result.registryChanged) {
      current = await entity.updateFields(trx, row, mergedFields, {
        updatedBy: FHIR_MERGE_ACTOR,
        updatedAt: point.now,
      })
      await audit.record(trx, {
        ...origin,
        ...ids,
        action: 'update',
        before: registryFields,
        after: mergedFields,
      })
    }
    for (const revert of result.reverts) {
      await audit.record(trx, {
        ...origin,
        ...ids,
        action: 'revert',
        before: { field: revert.field, itemKey: revert.itemKey, value: revert.fhir ?? null },
        after: { field: revert.field, itemKey: revert.itemKey, value: revert.registry ?? null },
      })
      logger.warn('Registry-owned field changed in FHIR; the push puts it back', {
        ...ids,
        field: revert.field,
      })
    }
    for (const clash of result.clashes) {
      await conflicts.record(
        trx,
        {
          ...ids,
          fieldPath: clash.field,
          itemKey: clash.itemKey,
          baseValue: clash.base,
          registryValue: clash.registry,
          fhirValue: clash.fhir,
          registryVersion: current.version,
          fhirVersionId: point.version,
          registryUpdatedAt: entity.registryChangedAt(row, clash.field),
          fhirUpdatedAt: point.fhirUpdatedAt,
          status: clash.resolution === null ? 'open' : 'resolved',
          resolution: clash.resolution,
        },
        point.now,
      )
      logger.warn('Field changed on both sides', {
        ...ids,
        field: clash.field,
        rule: clash.rule,
        resolution: clash.resolution ?? 'open',
      })
    }

    const open = await this.#settleConverged(trx, entity, ids, result.merged, fhirView, point.now)
    // Parts that wait for a steward go out as FHIR has them, so only settled changes need a push.
    const pushNeeded = !sameValue(
      withHeldBackParts(
        entity.shapes,
        result.merged,
        fhirView,
        open.map((conflict) => ({ field: conflict.field_path, itemKey: conflict.item_key })),
      ),
      fhirView,
    )
    await recordSyncPoint(trx, entity.table, row.id, {
      fhirVersionId: point.version,
      fhirLastUpdated: point.fhirUpdatedAt,
      base: point.fhirFields,
      rowVersion: current.version,
      inStep: !pushNeeded,
    })
    if (open.length > 0) await setSyncState(trx, entity.table, row.id, 'conflict')
    if (pushNeeded) await this.#enqueuePush(jobs, entity.entityType, row.id)

    if (result.clashes.length > 0) return 'merged-with-conflicts'
    return result.registryChanged ? 'merged' : 'unchanged'
  }

  /**
   * Closes the entity's open conflicts whose part the two sides now agree on, and returns the
   * ones still open (deletion conflicts aside).
   */
  async #settleConverged(
    trx: Executor,
    entity: { shapes: SyncedEntity<SyncedRow, Record<string, unknown>, Resource>['shapes'] },
    ids: { entityType: 'patient' | 'condition'; entityId: string },
    merged: MergeView,
    fhirView: MergeView,
    now: Date,
  ): Promise<ConflictRow[]> {
    const open = await this.#deps.conflicts.listOpenByEntity(trx, ids.entityType, ids.entityId)
    const converged: string[] = []
    const remaining: ConflictRow[] = []
    for (const conflict of open) {
      if (conflict.field_path === DELETION_FIELD) continue
      const shape = entity.shapes[conflict.field_path] ?? { kind: 'value' }
      const registryPart = partValue(shape, merged[conflict.field_path], conflict.item_key)
      const fhirPart = partValue(shape, fhirView[conflict.field_path], conflict.item_key)
      if (sameValue(registryPart, fhirPart)) converged.push(conflict.id)
      else remaining.push(conflict)
    }
    await this.#deps.conflicts.closeConverged(trx, converged, now)
    return remaining
  }

  /**
   * FHIR changed a resource whose row the registry deleted and has not deleted in FHIR yet. A
   * change to mapped fields opens a delete-versus-edit conflict and the delete waits. A
   * change of unmapped elements only moves the recorded version, so the pending delete proceeds.
   */
  async #editOfDeletedRow<Row extends SyncedRow, Fields extends Record<string, unknown>>(
    trx: Executor,
    jobs: TransactionJobs,
    entity: SyncedEntity<Row, Fields, Resource>,
    row: Row,
    point: { version: number; fhirUpdatedAt: Date | null; fhirFields: Fields; now: Date },
  ): Promise<MergeOutcome> {
    if (sameValue(point.fhirFields, row.sync_base)) {
      await recordSyncPoint(trx, entity.table, row.id, {
        fhirVersionId: point.version,
        fhirLastUpdated: point.fhirUpdatedAt,
        base: point.fhirFields,
        rowVersion: row.version,
        inStep: false,
      })
      await this.#enqueuePush(jobs, entity.entityType, row.id)
      return 'stale'
    }

    await this.#deps.conflicts.record(
      trx,
      {
        entityType: entity.entityType,
        entityId: row.id,
        fieldPath: DELETION_FIELD,
        itemKey: null,
        baseValue: row.sync_base,
        registryValue: null,
        fhirValue: point.fhirFields,
        registryVersion: row.version,
        fhirVersionId: point.version,
        registryUpdatedAt: row.updated_at,
        fhirUpdatedAt: point.fhirUpdatedAt,
        status: 'open',
        resolution: null,
      },
      point.now,
    )
    await setSyncState(trx, entity.table, row.id, 'conflict')
    // The version counts as seen, so a second delivery of it is stale rather than a new conflict.
    await recordSeenFhirVersion(trx, entity.table, row.id, {
      fhirVersionId: point.version,
      fhirLastUpdated: point.fhirUpdatedAt,
    })
    this.#deps.logger.warn('FHIR edited a resource the registry deleted', {
      entityType: entity.entityType,
      entityId: row.id,
    })
    return 'delete-conflict'
  }

  /**
   * Creates the registry patient for a FHIR Patient, with all its conditions, and queues the
   * push that adds the registry identifier in FHIR. The hospital's identifiers stay as they are.
   */
  async #enrol(
    resource: FhirPatient,
    conditions: readonly FhirCondition[],
    requestId: string | null,
  ): Promise<MergeOutcome> {
    const { db, patients, queue, clock, logger, audit } = this.#deps
    const fhirId = resource.id ?? ''
    const fhirFields = patientFieldsFromResource(resource)

    const outcome = await transactionWithJobs(db, queue, async (trx, jobs) => {
      await this.#lockResource(trx, `Patient/${fhirId}`)
      if (await patients.findByFhirId(trx, fhirId)) return 'unchanged' as const

      const id = crypto.randomUUID()
      const now = clock.now()
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
        updatedAt: now,
        fhirId,
        fhirVersionId: versionIdOf(resource),
        fhirLastUpdated: resource.meta?.lastUpdated ? new Date(resource.meta.lastUpdated) : null,
        syncBase: fhirFields,
        syncState: hasIdentifier ? 'synced' : 'pending',
      })
      await audit.record(trx, {
        ...this.#auditOrigin(requestId, now),
        action: 'create',
        entityType: 'patient',
        entityId: id,
        before: null,
        after: fields,
      })
      for (const condition of conditions) await this.#insertCondition(trx, id, condition, requestId)
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

  /**
   * True when the FHIR Patient carries the registry identifier of a registry patient. Such a
   * Patient is a duplicate in FHIR. Linking or merging it needs a person, so it stays out and is
   * logged.
   */
  async #carriesTakenIdentifier(resource: FhirPatient): Promise<boolean> {
    const registryIdentifiers = (resource.identifier ?? []).filter(
      (identifier) => identifier.system === this.#deps.registryIdentifierSystem,
    )
    for (const identifier of registryIdentifiers) {
      const holders = await this.#deps.patients.findByIdentifier(
        this.#deps.db,
        identifier.system ?? '',
        identifier.value ?? '',
      )
      if (holders.length > 0) {
        this.#deps.logger.warn('FHIR Patient carries the identifier of another registry patient', {
          fhirId: `Patient/${resource.id ?? ''}`,
          patientId: holders[0]?.id,
        })
        return true
      }
    }
    return false
  }

  /** Inserts an external condition unless the registry has it already; true when inserted. */
  async #insertCondition(
    db: Executor,
    patientId: string,
    resource: FhirCondition,
    requestId: string | null,
  ): Promise<boolean> {
    const { conditions, clock, audit } = this.#deps
    const fhirId = resource.id ?? ''
    if (await conditions.findByFhirId(db, fhirId)) return false
    const fields = conditionFieldsFromResource(resource)
    const id = crypto.randomUUID()
    const now = clock.now()
    await conditions.insert(db, {
      id,
      patientId,
      source: 'external',
      fields,
      isNeurological: this.#deps.valueSet.containsAny(fields.code.coding),
      updatedBy: FHIR_MERGE_ACTOR,
      updatedAt: now,
      fhirId,
      fhirVersionId: versionIdOf(resource),
      fhirLastUpdated: resource.meta?.lastUpdated ? new Date(resource.meta.lastUpdated) : null,
      syncBase: fields,
      syncState: 'synced',
    })
    await audit.record(db, {
      ...this.#auditOrigin(requestId, now),
      action: 'create',
      entityType: 'condition',
      entityId: id,
      before: null,
      after: fields,
    })
    return true
  }

  async #enqueuePush(
    jobs: TransactionJobs,
    entityType: 'patient' | 'condition',
    id: string,
  ): Promise<void> {
    if (entityType === 'patient') await enqueuePatientPush(jobs, id)
    else await enqueueConditionPush(jobs, id)
  }

  #auditOrigin(requestId: string | null, occurredAt: Date) {
    return { actor: FHIR_MERGE_ACTOR, source: 'fhir-merge' as const, requestId, occurredAt }
  }

  /** Serialises enrolment of one FHIR resource across processes, for the rest of the transaction. */
  async #lockResource(db: Executor, reference: string): Promise<void> {
    await sql`select pg_advisory_xact_lock(hashtext(${reference}))`.execute(db)
  }

  #isOwnWrite(resource: Resource): boolean {
    return resource.meta?.source?.startsWith(this.#deps.sourceUri) ?? false
  }
}
