import type { Selectable } from 'kysely'
import {
  toJsonOrNull,
  type AuditLogTable,
  type AuditSource,
  type Executor,
} from '../platform/db.ts'

export type AuditRow = Selectable<AuditLogTable>

/**
 * The kinds of change to the entity: `create`, `update`, `delete` or `restore`. `revert` is the
 * merge putting back a registry-owned field that FHIR changed, and `resolve` and `dismiss` are
 * steward decisions.
 */
export const AUDIT_ACTIONS = [
  'create',
  'update',
  'delete',
  'restore',
  'revert',
  'resolve',
  'dismiss',
] as const

export type AuditAction = (typeof AUDIT_ACTIONS)[number]

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

export interface AuditFilter {
  entityType?: AuditLogTable['entity_type']
  entityId?: string
  actor?: string
  source?: AuditSource
  action?: AuditAction
  /** Changes at or after this time. */
  occurredFrom?: Date
  /** Changes before this time. */
  occurredTo?: Date
}

/** Position after the last row of an audit page: its occurrence time and its id. */
export interface AuditCursor {
  occurredAt: Date
  id: string
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

  async findById(db: Executor, id: string): Promise<AuditRow | undefined> {
    return db.selectFrom('audit_log').selectAll().where('id', '=', id).executeTakeFirst()
  }

  /**
   * One page of changes, newest first (occurrence time, then id), after the cursor if given.
   * Every writer passes a JavaScript Date and the column default is truncated to milliseconds
   * (sql/010_audit_log_queries.sql), so a cursor's time matches its row exactly.
   */
  async list(
    db: Executor,
    filter: AuditFilter,
    limit: number,
    after?: AuditCursor,
  ): Promise<AuditRow[]> {
    let query = db.selectFrom('audit_log').selectAll()
    if (filter.entityType) query = query.where('entity_type', '=', filter.entityType)
    if (filter.entityId) query = query.where('entity_id', '=', filter.entityId)
    if (filter.actor) query = query.where('actor', '=', filter.actor)
    if (filter.source) query = query.where('source', '=', filter.source)
    if (filter.action) query = query.where('action', '=', filter.action)
    if (filter.occurredFrom) query = query.where('occurred_at', '>=', filter.occurredFrom)
    if (filter.occurredTo) query = query.where('occurred_at', '<', filter.occurredTo)
    if (after) {
      query = query.where((eb) =>
        eb.or([
          eb('occurred_at', '<', after.occurredAt),
          eb.and([eb('occurred_at', '=', after.occurredAt), eb('id', '<', after.id)]),
        ]),
      )
    }
    return query.orderBy('occurred_at', 'desc').orderBy('id', 'desc').limit(limit).execute()
  }
}
