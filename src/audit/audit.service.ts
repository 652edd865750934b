import type { Kysely } from 'kysely'
import type { Database } from '../platform/db.ts'
import { NotFoundError, ValidationError } from '../platform/errors.ts'
import { BIGINT_ID, decodeCursor, encodeCursor } from '../platform/paging.ts'
import type { AuditCursor, AuditRepository, AuditRow } from './audit.repository.ts'
import type { AuditListQuery, AuditLogEntry, AuditPage } from './audit.schemas.ts'

export interface AuditServiceDeps {
  db: Kysely<Database>
  audit: AuditRepository
}

/** Converts a row to its API representation. */
export function toAuditLogEntry(row: AuditRow): AuditLogEntry {
  return {
    id: row.id,
    occurredAt: row.occurred_at.toISOString(),
    actor: row.actor,
    source: row.source,
    action: row.action as AuditLogEntry['action'],
    entityType: row.entity_type,
    entityId: row.entity_id,
    before: row.before,
    after: row.after,
    requestId: row.request_id,
    conflictId: row.conflict_id,
  }
}

function auditCursorOf(value: string | undefined): AuditCursor | undefined {
  const cursor = decodeCursor(value, BIGINT_ID)
  return cursor && { occurredAt: cursor.createdAt, id: cursor.id }
}

/** Read access to the audit log for auditors. */
export class AuditService {
  readonly #deps: AuditServiceDeps

  constructor(deps: AuditServiceDeps) {
    this.#deps = deps
  }

  /** Lists one page of changes that match the filters, newest first. */
  async list(query: AuditListQuery): Promise<AuditPage> {
    const occurredFrom = query.occurredFrom === undefined ? undefined : new Date(query.occurredFrom)
    const occurredTo = query.occurredTo === undefined ? undefined : new Date(query.occurredTo)
    if (occurredFrom && occurredTo && occurredFrom > occurredTo) {
      throw new ValidationError('The time range is empty', [
        { path: 'occurredFrom', message: 'Must not be after occurredTo' },
      ])
    }
    const after = auditCursorOf(query.cursor)

    const rows = await this.#deps.audit.list(
      this.#deps.db,
      {
        entityType: query.entityType,
        entityId: query.entityId,
        actor: query.actor,
        source: query.source,
        action: query.action,
        occurredFrom,
        occurredTo,
      },
      query.limit + 1,
      after,
    )

    // The extra row only shows that a next page exists.
    const page = rows.slice(0, query.limit)
    const last = page.at(-1)
    const hasMore = rows.length > query.limit && last !== undefined
    return {
      items: page.map(toAuditLogEntry),
      nextCursor: hasMore ? encodeCursor({ createdAt: last.occurred_at, id: last.id }) : null,
    }
  }

  /** Reads one change of the log, or raises NotFoundError for an unknown id. */
  async get(id: string): Promise<AuditLogEntry> {
    const row = await this.#deps.audit.findById(this.#deps.db, id)
    if (!row) throw new NotFoundError('Audit entry', id)

    return toAuditLogEntry(row)
  }
}
