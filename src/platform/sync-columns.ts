import { sameValue } from './canonical-json.ts'
import { toJson, type Executor, type SyncState } from './db.ts'

/** Tables whose rows carry the sync columns (version, fhir_id, sync_base, sync_state...). */
export type SyncedTable = 'patients' | 'conditions'

// Both tables have identical sync columns; Kysely types the query against one of them.
function asPatients(table: SyncedTable): 'patients' {
  return table as 'patients'
}

/**
 * Records a FHIR version both sides agree on, with its mapped fields as the new merge base. It
 * never moves `fhir_version_id` backwards, so a late push result cannot undo a newer merge. The
 * row is `synced` only if its version is still `rowVersion`: a newer registry edit has its own
 * push queued and keeps the row pending.
 */
export async function recordSyncPoint(
  db: Executor,
  table: SyncedTable,
  id: string,
  point: {
    fhirVersionId: number
    fhirLastUpdated: Date | null
    base: unknown
    rowVersion: number
    inStep: boolean
  },
): Promise<boolean> {
  const result = await db
    .updateTable(asPatients(table))
    .set((eb) => ({
      fhir_version_id: point.fhirVersionId,
      fhir_last_updated: point.fhirLastUpdated,
      sync_base: toJson(point.base),
      sync_state: point.inStep
        ? eb
            .case()
            .when('version', '=', point.rowVersion)
            .then(eb.val<SyncState>('synced'))
            .else(eb.val<SyncState>('pending'))
            .end()
        : 'pending',
      sync_error: null,
      sync_attempts: 0,
    }))
    .where('id', '=', id)
    .where((eb) =>
      eb.or([eb('fhir_version_id', 'is', null), eb('fhir_version_id', '<=', point.fhirVersionId)]),
    )
    .executeTakeFirst()
  return result.numUpdatedRows > 0n
}

export async function recordSyncFailure(
  db: Executor,
  table: SyncedTable,
  id: string,
  state: SyncState,
  error: string,
): Promise<void> {
  await db
    .updateTable(asPatients(table))
    .set((eb) => ({
      sync_state: state,
      sync_error: error,
      sync_attempts: eb('sync_attempts', '+', 1),
    }))
    .where('id', '=', id)
    .execute()
}

/** Marks a row deleted and bumps its version; the push job then deletes the FHIR resource. */
export async function softDeleteRow(
  db: Executor,
  table: SyncedTable,
  id: string,
  change: { updatedBy: string; updatedAt: Date },
): Promise<void> {
  await db
    .updateTable(asPatients(table))
    .set((eb) => ({
      deleted_at: change.updatedAt,
      version: eb('version', '+', 1),
      updated_at: change.updatedAt,
      updated_by: change.updatedBy,
      sync_state: 'pending',
    }))
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .execute()
}

/** Sets a row's sync state directly, clearing its last error. */
export async function setSyncState(
  db: Executor,
  table: SyncedTable,
  id: string,
  state: SyncState,
): Promise<void> {
  await db
    .updateTable(asPatients(table))
    .set({ sync_state: state, sync_error: null })
    .where('id', '=', id)
    .execute()
}

/** The actor and time of a change to a synced row, and the fields a registry-side write changed. */
export interface FieldChange {
  updatedBy: string
  updatedAt: Date
  /**
   * Fields the registry changed, stamped with `updatedAt` in `field_changed_at` for last-writer-
   * wins. A merge that only takes FHIR's values leaves this empty: those are FHIR's changes.
   */
  changedFields?: readonly string[]
}

/** Builds the `field_changed_at` entries that a change adds. */
export function changeTimes(change: FieldChange): Record<string, string> {
  const stamp = change.updatedAt.toISOString()
  return Object.fromEntries((change.changedFields ?? []).map((field) => [field, stamp]))
}

/** Names of the fields whose values differ between two versions of a row's fields. */
export function changedFieldNames<T extends Record<string, unknown>>(
  before: T,
  after: T,
): string[] {
  return Object.keys(after).filter((field) => !sameValue(before[field], after[field]))
}

/**
 * Points a row at a FHIR version, leaving its fields and its version alone. With `base`, the
 * row also takes that version's mapped fields as its merge base. A null version makes the next
 * push write without `If-Match`, which recreates a resource that FHIR deleted.
 */
export async function setFhirVersion(
  db: Executor,
  table: SyncedTable,
  id: string,
  point: { fhirVersionId: number | null; fhirLastUpdated?: Date | null; base?: unknown },
): Promise<void> {
  await db
    .updateTable(asPatients(table))
    .set({
      fhir_version_id: point.fhirVersionId,
      ...(point.fhirLastUpdated === undefined ? {} : { fhir_last_updated: point.fhirLastUpdated }),
      ...(point.base === undefined ? {} : { sync_base: toJson(point.base) }),
    })
    .where('id', '=', id)
    .execute()
}

/** Clears the deletion mark of a soft-deleted row; the caller's field write bumps the version. */
export async function clearDeletion(db: Executor, table: SyncedTable, id: string): Promise<void> {
  await db.updateTable(asPatients(table)).set({ deleted_at: null }).where('id', '=', id).execute()
}

/**
 * Records a FHIR version the registry has seen without taking its fields as the new base, as for
 * an edit of a resource the registry deleted, which waits for a steward. Never moves backwards.
 */
export async function recordSeenFhirVersion(
  db: Executor,
  table: SyncedTable,
  id: string,
  seen: { fhirVersionId: number; fhirLastUpdated: Date | null },
): Promise<void> {
  await db
    .updateTable(asPatients(table))
    .set({ fhir_version_id: seen.fhirVersionId, fhir_last_updated: seen.fhirLastUpdated })
    .where('id', '=', id)
    .where((eb) =>
      eb.or([eb('fhir_version_id', 'is', null), eb('fhir_version_id', '<', seen.fhirVersionId)]),
    )
    .execute()
}
