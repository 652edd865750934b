import type { Selectable } from 'kysely'
import { toJsonOrNull, type ConflictTable, type Executor } from '../platform/db.ts'

export type ConflictRow = Selectable<ConflictTable>

export interface NewConflict {
  entityType: 'patient' | 'condition'
  entityId: string
  fieldPath: string
  baseValue: unknown
  registryValue: unknown
  fhirValue: unknown
  registryVersion: number
  fhirVersionId: number
  registryUpdatedAt: Date
  fhirUpdatedAt: Date | null
  status: 'open' | 'resolved'
  resolution: string | null
}

/** Queries of the `conflicts` table. */
export class ConflictRepository {
  async insert(db: Executor, conflict: NewConflict, now: Date): Promise<ConflictRow> {
    return db
      .insertInto('conflicts')
      .values({
        entity_type: conflict.entityType,
        entity_id: conflict.entityId,
        field_path: conflict.fieldPath,
        base_value: toJsonOrNull(conflict.baseValue),
        registry_value: toJsonOrNull(conflict.registryValue),
        fhir_value: toJsonOrNull(conflict.fhirValue),
        registry_version: conflict.registryVersion,
        fhir_version_id: conflict.fhirVersionId,
        registry_updated_at: conflict.registryUpdatedAt,
        fhir_updated_at: conflict.fhirUpdatedAt,
        status: conflict.status,
        resolution: conflict.resolution,
        resolved_at: conflict.status === 'resolved' ? now : null,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
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
      .execute()
  }
}
