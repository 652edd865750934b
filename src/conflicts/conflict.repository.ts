import { sql, type Selectable } from 'kysely'
import { toJsonOrNull, type ConflictTable, type Executor } from '../platform/db.ts'

export type ConflictRow = Selectable<ConflictTable>

/** Field path of a conflict between a delete on one side and an edit on the other. */
export const DELETION_FIELD = '(deleted)'

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
  /** How a rule settled it (`lww-registry`, `lww-fhir`, `fhir-rule`); null while open. */
  resolution: string | null
}

/** Queries of the `conflicts` table. */
export class ConflictRepository {
  /**
   * Records a clash. An open one replaces the open conflict of the same field or element, if
   * any, with the newer values, so the queue holds one entry per undecided part.
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
}
