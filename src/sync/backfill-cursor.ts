import type { Patient as FhirPatient } from '@medplum/fhirtypes'

/**
 * Position of the from-fhir backfill in HAPI's Patients, ordered by `meta.lastUpdated` and then
 * by id. HAPI gives every resource of one transaction Bundle the same `lastUpdated` (checked on
 * HAPI 8.8), so one instant can hold more Patients than a page, and the cursor counts how many
 * of them are done.
 */
export interface FhirCursor {
  /** `meta.lastUpdated` of the last Patient done, as HAPI returned it. */
  lastUpdated: string
  /** Id of the last Patient done, or empty when `doneAtInstant` is 0. */
  id: string
  /** Patients done that carry `lastUpdated`. They are the first ones of that instant by id. */
  doneAtInstant: number
}

/** Position of the to-fhir backfill: patients first, then conditions, each ordered by id. */
export interface RegistryCursor {
  entityType: 'patient' | 'condition'
  /** Id of the last row done in that table, or null before the first one. */
  afterId: string | null
}

/** Builds the search parameters of the page after `cursor`. `filter` narrows the Patients read. */
export function patientPageSearch(
  cursor: FhirCursor | null,
  pageSize: number,
  filter: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const params = { ...filter, _sort: '_lastUpdated,_id', _count: String(pageSize) }
  if (cursor === null) return params
  if (cursor.doneAtInstant === 0) return { ...params, _lastUpdated: `ge${cursor.lastUpdated}` }

  // The page starts at the last Patient done rather than after it. Finding that Patient in first
  // place proves that no Patient before it left the instant by an update or a delete. Such a
  // change would shift the offset past a Patient that is not done yet. HAPI runs `_offset`
  // searches without a stored result set, so no paging link has to survive a crash.
  return {
    ...params,
    _lastUpdated: `ge${cursor.lastUpdated}`,
    _offset: String(cursor.doneAtInstant - 1),
    _count: String(pageSize + 1),
  }
}

/** Content of a page read with `patientPageSearch`: Patients to apply, or a shifted instant. */
export type PatientPage =
  { kind: 'patients'; patients: FhirPatient[] } | { kind: 'shifted'; cursor: FhirCursor }

/**
 * Drops the last Patient done from the front of a page. When it is not there, the Patients of
 * the cursor's instant changed since it was saved, and the returned cursor reads that instant
 * again from its start. Merges are idempotent, so applying its Patients twice is harmless.
 */
export function patientPageOf(cursor: FhirCursor | null, patients: FhirPatient[]): PatientPage {
  if (cursor === null || cursor.doneAtInstant === 0) return { kind: 'patients', patients }

  const [first, ...rest] = patients
  const sameBoundary =
    first !== undefined &&
    first.id === cursor.id &&
    sameInstant(lastUpdatedOf(first), cursor.lastUpdated)
  if (sameBoundary) return { kind: 'patients', patients: rest }
  return { kind: 'shifted', cursor: { lastUpdated: cursor.lastUpdated, id: '', doneAtInstant: 0 } }
}

/** Moves the cursor past `done`, the Patients of one page in the order HAPI returned them. */
export function advanceFhirCursor(
  cursor: FhirCursor | null,
  done: readonly FhirPatient[],
): FhirCursor | null {
  const last = done.at(-1)
  if (last === undefined) return cursor
  const lastUpdated = lastUpdatedOf(last)
  const atInstant = done.filter((patient) =>
    sameInstant(lastUpdatedOf(patient), lastUpdated),
  ).length
  const before =
    cursor !== null && sameInstant(cursor.lastUpdated, lastUpdated) ? cursor.doneAtInstant : 0

  return { lastUpdated, id: last.id ?? '', doneAtInstant: before + atInstant }
}

/** Moves the to-fhir cursor past a page of ids, or to the next table after an empty page. */
export function advanceRegistryCursor(
  cursor: RegistryCursor,
  ids: readonly string[],
): RegistryCursor | 'done' {
  const last = ids.at(-1)
  if (last !== undefined) return { entityType: cursor.entityType, afterId: last }
  return cursor.entityType === 'patient' ? { entityType: 'condition', afterId: null } : 'done'
}

export function lastUpdatedOf(patient: FhirPatient): string {
  const lastUpdated = patient.meta?.lastUpdated
  if (lastUpdated === undefined || Number.isNaN(Date.parse(lastUpdated))) {
    throw new Error(`Patient/${patient.id ?? '?'} has no valid meta.lastUpdated`)
  }
  return lastUpdated
}

function sameInstant(a: string, b: string): boolean {
  return Date.parse(a) === Date.parse(b)
}
