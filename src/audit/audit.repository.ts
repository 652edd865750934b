import type { Selectable } from 'kysely'
import {
  toJsonOrNull,
  type AuditLogTable,
  type AuditSource,
  type Executor,
} from '../platform/db.ts'

export type AuditRow = Selectable<AuditLogTable>

/**
 * The kind of change to the entity: `create`, `update`, `delete` or `restore`. `revert` is the
 * merge putting back a registry-owned field that FHIR changed, and `resolve` and `dismiss` are
 * steward decisions.
 */
export type AuditAction =
  'create' | 'update' | 'delete' | 'restore' | 'revert' | 'resolve' | 'dismiss'

/** The actor of a change and its request (or job) id; audit rows carry both. */
export interface ChangeContext {
  actor: string
  requestId: string | null
}

export interface AuditEntry {
  actor: string
  source: AuditSource
  action: AuditAction
  entityType: AuditLogTable['entity_type']
  entityId: string
  before: unknown
  after: unknown
  requestId: string | null
  conflictId?: string | null
  occurredAt: Date
}

/** Queries of the append-only audit log: the table refuses updates and deletes. */
export class AuditRepository {
  async record(db: Executor, entry: AuditEntry): Promise<void> {
    await db
      .insertInto('audit_log')
      .values({
        actor: entry.actor,
        source: entry.source,
        action: entry.action,
        entity_type: entry.entityType,
        entity_id: entry.entityId,
        before: toJsonOrNull(entry.before),
        after: toJsonOrNull(entry.after),
        request_id: entry.requestId,
        conflict_id: entry.conflictId ?? null,
        occurred_at: entry.occurredAt,
      })
      .execute()
  }

  /** The entity's changes, oldest first. */
  async listByEntity(
    db: Executor,
    entityType: 'patient' | 'condition',
    entityId: string,
  ): Promise<AuditRow[]> {
    return db
      .selectFrom('audit_log')
      .selectAll()
      .where('entity_type', '=', entityType)
      .where('entity_id', '=', entityId)
      .orderBy('id')
      .execute()
  }
}
