import type { SyncState } from './db.ts'

interface SyncedRow {
  fhir_id: string | null
  fhir_version_id: number | null
  sync_state: SyncState
  sync_error: string | null
}

/** Builds the `sync` member of an API representation. */
export function syncStatusOf(row: SyncedRow) {
  return {
    fhirId: row.fhir_id,
    fhirVersionId: row.fhir_version_id,
    state: row.sync_state,
    error: row.sync_error,
  }
}
