import { sql, type Selectable } from 'kysely'
import {
  toJsonOrNull,
  type ConflictStatus,
  type ConflictTable,
  type Executor,
} from '../platform/db.ts'
import { type PageCursor, isAfterCursor } from '../platform/paging.ts'
import type { EntityType } from '../platform/queue.ts'

export type ConflictRow = Selectable<ConflictTable>

/** Field path of a conflict between a delete on one side and an edit on the other. */
export const DELETION_FIELD = '(deleted)'

/** Reason stored on conflicts dismissed because both sides deleted their entity. */
export const BOTH_DELETED_REASON = 'Both the registry and FHIR deleted the entity'

export interface NewConflict {
  entityType: 'patient' | 'condition'
  entityId: string
  /** Merge field (`telecom`, `code`...) or `(deleted)` for a delete-versus-edit conflict. */
  fieldPath: string
  /** Natural key of the list element, or null for the whole field. */
  itemKey: string | null
  baseValue: unknown
  registryValue: unknown
  fhirValue: unknown
  registryVersion: number
  fhirVersionId: number
  registryUpdatedAt: Date
  fhirUpdatedAt: Date | null
  status: 'open' | 'resolved'
  /** The rule's outcome (`lww-registry`, `lww-fhir`, `fhir-rule`), or null while open. */
  resolution: string | null
}

export interface ConflictFilter {
  status: ConflictStatus
  entityType?: 'patient' | 'condition'
  entityId?: string
  fieldPath?: string
  /** Conflicts created at or after this time. */
  createdFrom?: Date
  /** Conflicts created before this time. */
  createdTo?: Date
}

/** The two sides of a part as they stand now, which replace those a conflict recorded. */
export interface ConflictSides {
  registryValue: unknown
  fhirValue: unknown
  registryVersion: number
  fhirVersionId: number
  registryUpdatedAt: Date
  fhirUpdatedAt: Date | null
}

/** A steward's decision that closes an open conflict. */
export interface ConflictDecision {
  status: 'resolved' | 'dismissed'
  /** `registry`, `fhir` or `value` for a resolution; null for a dismissal. */
  resolution: 'registry' | 'fhir' | 'value' | null
  resolvedBy: string
  /** The value the part took; null when it was removed, or for a dismissal. */
  resolvedValue: unknown
  /** The steward's reason, required for a dismissal. */
  reason: string | null
}

/** Queries of the `conflicts` table. */
export class ConflictRepository {
  /**
   * Records a clash. An open one replaces the open conflict of the same field or element, if
   * any, with the newer values, so the queue has one entry per undecided part.
   */
  async record(db: Executor, conflict: NewConflict, now: Date): Promise<ConflictRow> {
    const values = {
      entity_type: conflict.entityType,
      entity_id: conflict.entityId,
      field_path: conflict.fieldPath,
      item_key: conflict.itemKey,
      base_value: toJsonOrNull(conflict.baseValue),
      registry_value: toJsonOrNull(conflict.registryValue),
      fhir_value: toJsonOrNull(conflict.fhirValue),
      registry_version: conflict.registryVersion,
      fhir_version_id: conflict.fhirVersionId,
      registry_updated_at: conflict.registryUpdatedAt,
      fhir_updated_at: conflict.fhirUpdatedAt,
      status: conflict.status,
      resolution: conflict.resolution,
      resolved_by: conflict.status === 'resolved' ? 'merge-rule' : null,
      resolved_at: conflict.status === 'resolved' ? now : null,
      updated_at: now,
    }
    let query = db.insertInto('conflicts').values(values)
    if (conflict.status === 'open') {
      query = query.onConflict((oc) =>
        oc
          .expression(sql`entity_type, entity_id, field_path, coalesce(item_key, '')`)
          .where('status', '=', 'open')
          .doUpdateSet({
            registry_value: values.registry_value,
            fhir_value: values.fhir_value,
            registry_version: values.registry_version,
            fhir_version_id: values.fhir_version_id,
            registry_updated_at: values.registry_updated_at,
            fhir_updated_at: values.fhir_updated_at,
            updated_at: now,
          }),
      )
    }
    return query.returningAll().executeTakeFirstOrThrow()
  }

  async findById(
    db: Executor,
    id: string,
    options: { forUpdate?: boolean } = {},
  ): Promise<ConflictRow | undefined> {
    let query = db.selectFrom('conflicts').selectAll().where('id', '=', id)
    if (options.forUpdate) query = query.forUpdate()
    return query.executeTakeFirst()
  }

  async listByEntity(
    db: Executor,
    entityType: 'patient' | 'condition',
    entityId: string,
  ): Promise<ConflictRow[]> {
    return db
      .selectFrom('conflicts')
      .selectAll()
      .where('entity_type', '=', entityType)
      .where('entity_id', '=', entityId)
      .orderBy('created_at')
      .orderBy('id')
      .execute()
  }

  /** The entity's conflicts that wait for a steward. */
  async listOpenByEntity(
    db: Executor,
    entityType: 'patient' | 'condition',
    entityId: string,
  ): Promise<ConflictRow[]> {
    return db
      .selectFrom('conflicts')
      .selectAll()
      .where('entity_type', '=', entityType)
      .where('entity_id', '=', entityId)
      .where('status', '=', 'open')
      .orderBy('created_at')
      .orderBy('id')
      .execute()
  }

  /** Closes open conflicts whose two sides came to agree without a steward. */
  async closeConverged(db: Executor, ids: readonly string[], now: Date): Promise<void> {
    if (ids.length === 0) return
    await db
      .updateTable('conflicts')
      .set({
        status: 'resolved',
        resolution: 'converged',
        resolved_by: 'merge',
        resolved_at: now,
        updated_at: now,
      })
      .where('id', 'in', ids)
      .where('status', '=', 'open')
      .execute()
  }

  /** One page of conflicts, oldest first (creation time, then id), after the cursor if given. */
  async list(
    db: Executor,
    filter: ConflictFilter,
    limit: number,
    after?: PageCursor,
  ): Promise<ConflictRow[]> {
    let query = db.selectFrom('conflicts').selectAll().where('status', '=', filter.status)
    if (filter.entityType) query = query.where('entity_type', '=', filter.entityType)
    if (filter.entityId) query = query.where('entity_id', '=', filter.entityId)
    if (filter.fieldPath) query = query.where('field_path', '=', filter.fieldPath)
    if (filter.createdFrom) query = query.where('created_at', '>=', filter.createdFrom)
    if (filter.createdTo) query = query.where('created_at', '<', filter.createdTo)
    if (after) query = query.where(isAfterCursor(after))
    return query.orderBy('created_at').orderBy('id').limit(limit).execute()
  }

  async findByIds(db: Executor, ids: readonly string[]): Promise<ConflictRow[]> {
    if (ids.length === 0) return []
    return db.selectFrom('conflicts').selectAll().where('id', 'in', ids).execute()
  }

  /** Replaces the sides an open conflict recorded with the current ones. */
  async refreshSides(
    db: Executor,
    id: string,
    sides: ConflictSides,
    now: Date,
  ): Promise<ConflictRow> {
    return db
      .updateTable('conflicts')
      .set({
        registry_value: toJsonOrNull(sides.registryValue),
        fhir_value: toJsonOrNull(sides.fhirValue),
        registry_version: sides.registryVersion,
        fhir_version_id: sides.fhirVersionId,
        registry_updated_at: sides.registryUpdatedAt,
        fhir_updated_at: sides.fhirUpdatedAt,
        updated_at: now,
      })
      .where('id', '=', id)
      .where('status', '=', 'open')
      .returningAll()
      .executeTakeFirstOrThrow()
  }

  /** Closes an open conflict with a steward's decision. */
  async close(
    db: Executor,
    id: string,
    decision: ConflictDecision,
    now: Date,
  ): Promise<ConflictRow> {
    return db
      .updateTable('conflicts')
      .set({
        status: decision.status,
        resolution: decision.resolution,
        resolved_by: decision.resolvedBy,
        resolved_value: toJsonOrNull(decision.resolvedValue),
        resolution_reason: decision.reason,
        resolved_at: now,
        updated_at: now,
      })
      .where('id', '=', id)
      .where('status', '=', 'open')
      .returningAll()
      .executeTakeFirstOrThrow()
  }

  /**
   * Dismisses the open conflicts of one entity, all of them or, with `fieldsOnly`, all but its
   * `(deleted)` conflict. Returns how many it dismissed.
   */
  async dismissOpenByEntity(
    db: Executor,
    entity: { entityType: EntityType; entityId: string },
    dismissal: { resolvedBy: string; reason: string; fieldsOnly: boolean },
    now: Date,
  ): Promise<number> {
    let query = db
      .updateTable('conflicts')
      .set({
        status: 'dismissed',
        resolution: null,
        resolved_by: dismissal.resolvedBy,
        resolved_value: null,
        resolution_reason: dismissal.reason,
        resolved_at: now,
        updated_at: now,
      })
      .where('entity_type', '=', entity.entityType)
      .where('entity_id', '=', entity.entityId)
      .where('status', '=', 'open')
    if (dismissal.fieldsOnly) query = query.where('field_path', '<>', DELETION_FIELD)
    const result = await query.executeTakeFirst()
    return Number(result.numUpdatedRows)
  }

  /**
   * Ids of a patient's conditions that were deleted at `deletedAt`, which is when a registry
   * delete of the patient deleted them too. Locks the rows, so a restore can change them.
   */
  async lockConditionsDeletedWith(
    db: Executor,
    patientId: string,
    deletedAt: Date,
  ): Promise<string[]> {
    const rows = await db
      .selectFrom('conditions')
      .select('id')
      .where('patient_id', '=', patientId)
      // A JavaScript Date has millisecond precision and the column microsecond precision, so
      // match the whole millisecond of the deletion time as it was read back.
      .where('deleted_at', '>=', deletedAt)
      .where('deleted_at', '<', new Date(deletedAt.getTime() + 1))
      .orderBy('id')
      .forUpdate()
      .execute()
    return rows.map((row) => row.id)
  }
}
