import type { Transaction } from 'kysely'
import type { AuditEntry, ChangeContext } from '../audit/audit.repository.ts'
import { sameValue } from '../platform/canonical-json.ts'
import type { Database } from '../platform/db.ts'
import type { TransactionJobs } from '../platform/queue.ts'
import { setSyncState } from '../platform/sync-columns.ts'
import type { ConflictEntity, EntitySnapshot } from './conflict-entities.ts'
import type { ConflictRepository, ConflictRow } from './conflict.repository.ts'

/** Result of one resolution attempt; only `resolved` changed the entity. */
export type ResolveOutcome =
  | { kind: 'resolved'; conflict: ConflictRow; entity: EntitySnapshot }
  | { kind: 'stale'; conflict: ConflictRow }
  | { kind: 'not-open'; conflict: ConflictRow }
  | { kind: 'not-found' }

/** The locked entity and conflict rows that a resolution works on, with its transaction. */
export interface ResolutionStep {
  trx: Transaction<Database>
  jobs: TransactionJobs
  entity: ConflictEntity
  row: EntitySnapshot
  conflict: ConflictRow
  context: ChangeContext
  now: Date
}

/** Builds the audit row of a steward's decision on a conflict. */
export function stewardAuditEntry(
  step: Pick<ResolutionStep, 'context' | 'conflict' | 'now'>,
  change: Pick<AuditEntry, 'action' | 'entityType' | 'entityId' | 'before' | 'after'>,
): AuditEntry {
  return {
    ...change,
    actor: step.context.actor,
    source: 'steward',
    requestId: step.context.requestId,
    conflictId: step.conflict.id,
    occurredAt: step.now,
  }
}

/**
 * Stores the sides as they are now on the conflict, so the steward can review them and a retry
 * can succeed. When the two sides came to agree, nothing is left to decide and the conflict closes
 * as converged.
 */
export async function refreshSides(
  conflicts: ConflictRepository,
  step: ResolutionStep,
  sides: {
    registryValue: unknown
    fhirValue: unknown
    /** FHIR's version and time when they are not the row's last agreed ones. */
    fhirVersionId?: number
    fhirUpdatedAt?: Date | null
  },
): Promise<ResolveOutcome> {
  const { trx, row, conflict, now } = step
  if (sameValue(sides.registryValue, sides.fhirValue)) {
    await conflicts.closeConverged(trx, [conflict.id], now)
    const closed = await conflicts.findById(trx, conflict.id)
    return { kind: 'not-open', conflict: closed ?? conflict }
  }

  const refreshed = await conflicts.refreshSides(
    trx,
    conflict.id,
    {
      registryValue: sides.registryValue,
      fhirValue: sides.fhirValue,
      registryVersion: row.version,
      fhirVersionId: sides.fhirVersionId ?? row.fhirVersionId ?? conflict.fhir_version_id,
      registryUpdatedAt: row.updatedAt,
      fhirUpdatedAt: sides.fhirUpdatedAt === undefined ? row.fhirLastUpdated : sides.fhirUpdatedAt,
    },
    now,
  )
  return { kind: 'stale', conflict: refreshed }
}

/**
 * Marks the row pending for the push that follows, or keeps it in `conflict` while other
 * conflicts of it are still open.
 */
export async function markPushPending(
  conflicts: ConflictRepository,
  trx: Transaction<Database>,
  entity: ConflictEntity,
  id: string,
): Promise<void> {
  const open = await conflicts.listOpenByEntity(trx, entity.entityType, id)
  await setSyncState(trx, entity.table, id, open.length > 0 ? 'conflict' : 'pending')
}
