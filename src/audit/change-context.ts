import type { Context } from 'hono'
import type { AppEnv } from '../platform/http.ts'
import type { AuditEntry, ChangeContext } from './audit.repository.ts'

/** Builds the change context of a request: its caller and request id, for the audit log. */
export function changeContextOf(c: Context<AppEnv>): ChangeContext {
  return { actor: c.get('principal').id, requestId: c.get('requestId') }
}

/** Builds the audit row of an API write, made by the context's actor under its request id. */
export function userAuditEntry(
  context: ChangeContext,
  change: Pick<
    AuditEntry,
    'action' | 'entityType' | 'entityId' | 'before' | 'after' | 'occurredAt'
  >,
): AuditEntry {
  return { ...change, actor: context.actor, source: 'user', requestId: context.requestId }
}
