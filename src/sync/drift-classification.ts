import type { MergeView } from '../merge/field-merge.ts'
import type { MergeRule } from '../merge/merge-rules.ts'
import { sameValue } from '../platform/canonical-json.ts'
import type { SyncState } from '../platform/db.ts'
import type { SyncDirection } from '../platform/sync-modes.ts'

/**
 * Kinds of drift that a verification run finds in one synced row:
 * - `missed-change`: FHIR has a newer version than the row recorded, so a notification was lost;
 * - `diverged`: same version, but mapped fields differ, so one side changed without the other;
 * - `unsynced`: the row records no FHIR version, so it was never written, or its write was lost;
 * - `stalled-push`: the row waits for a push that should have finished long ago;
 * - `deleted-in-fhir`: a live row whose resource is gone from FHIR;
 * - `deleted-in-registry`: a deleted row whose resource still exists in FHIR;
 * - `older-in-fhir`: FHIR has an older version than the row recorded, as after a restore of
 *   HAPI from a backup.
 */
export const FINDING_KINDS = [
  'missed-change',
  'diverged',
  'unsynced',
  'stalled-push',
  'deleted-in-fhir',
  'deleted-in-registry',
  'older-in-fhir',
] as const

export type FindingKind = (typeof FINDING_KINDS)[number]

/**
 * The repair a finding gets:
 * - `merge`: a notification of the current version goes through the merge, as a delivery would;
 * - `merge-delete`: a delete notification goes through the merge, which soft-deletes the row or
 *   opens a conflict;
 * - `push`: a push job writes the row to FHIR (creating, updating or deleting the resource);
 * - `take-fhir`: the row takes FHIR's values, for a type that only flows from FHIR;
 * - `none`: recorded only, for a person to look at.
 */
export const REPAIR_ACTIONS = ['merge', 'merge-delete', 'push', 'take-fhir', 'none'] as const

export type RepairAction = (typeof REPAIR_ACTIONS)[number]

/** The row's side of a comparison. */
export interface RowSnapshot {
  deleted: boolean
  fhirVersionId: number | null
  syncState: SyncState
  updatedAt: Date
}

/** FHIR's side: the current version, or why there is none. */
export type FhirSnapshot =
  { status: 'found'; versionId: number } | { status: 'deleted' } | { status: 'missing' }

export interface Finding {
  kind: FindingKind
  /** Mapped fields whose values differ, for `diverged`. */
  fields: string[]
}

/**
 * Classifies one row against its FHIR resource; null when they agree, the difference is
 * expected, or the row failed and waits for a replay. A row that waits for a push younger than `stalledAfterMs` is not judged, because
 * the push is still on its way. A row in conflict is checked for versions and deletes only,
 * because its fields differ until a steward decides.
 */
export function classifyRow(
  row: RowSnapshot,
  fhir: FhirSnapshot,
  differingFields: readonly string[],
  now: Date,
  stalledAfterMs: number,
): Finding | null {
  // A failed row waits for an operator's replay (it is listed under /sync/failed); pushing it
  // again on every run would only add dead letters.
  if (row.syncState === 'failed') return null
  const pushOverdue =
    row.syncState === 'pending' && now.getTime() - row.updatedAt.getTime() >= stalledAfterMs
  if (row.syncState === 'pending' && !pushOverdue) return null

  if (fhir.status !== 'found') {
    // Both sides agree that a deleted row has no resource, whether it was ever written or not.
    if (row.deleted) return pushOverdue ? finding('stalled-push') : null
    if (row.fhirVersionId === null) return finding('unsynced')
    return finding('deleted-in-fhir')
  }

  if (row.fhirVersionId === null) return finding('unsynced')
  if (fhir.versionId > row.fhirVersionId) return finding('missed-change')
  if (fhir.versionId < row.fhirVersionId) return finding('older-in-fhir')
  // An open conflict, of a field or of a delete against an edit, keeps the row for a steward.
  if (row.syncState === 'conflict') return null
  if (row.deleted) return finding('deleted-in-registry')
  if (differingFields.length > 0) return { kind: 'diverged', fields: [...differingFields] }
  return pushOverdue ? finding('stalled-push') : null
}

/**
 * Chooses the repair of a finding for the type's sync direction. A type that only flows to FHIR
 * is repaired by pushing the registry's row, so a FHIR change or delete is overwritten. A type
 * that only flows from FHIR is never pushed: a divergence takes FHIR's values, and what needs a
 * push is only recorded.
 */
export function repairFor(kind: FindingKind, direction: SyncDirection): RepairAction {
  const preferred = PREFERRED_REPAIRS[kind]
  if (direction === 'to-fhir' && (preferred === 'merge' || preferred === 'merge-delete')) {
    return 'push'
  }
  if (direction === 'from-fhir' && preferred === 'push') {
    return kind === 'diverged' ? 'take-fhir' : 'none'
  }
  return preferred
}

const PREFERRED_REPAIRS: Record<FindingKind, RepairAction> = {
  'missed-change': 'merge',
  // The row changed without a push: the push writes it, and the field rules apply to any FHIR
  // change that comes back.
  diverged: 'push',
  unsynced: 'push',
  'stalled-push': 'push',
  'deleted-in-fhir': 'merge-delete',
  'deleted-in-registry': 'push',
  // Pushing over an older version could overwrite a restored record; a person decides.
  'older-in-fhir': 'none',
}

function finding(kind: FindingKind): Finding {
  return { kind, fields: [] }
}

/**
 * Returns the merge fields that a type flowing only from FHIR keeps as the registry has them:
 * those with the `registry` rule, such as the registry identifier, which are never pushed and
 * so never reach FHIR. Other directions keep none, because their pushes bring FHIR in step.
 */
export function registryKeptFields(
  rules: Readonly<Record<string, MergeRule>>,
  direction: SyncDirection,
): Set<string> {
  if (direction !== 'from-fhir') return new Set()
  return new Set(Object.keys(rules).filter((field) => rules[field] === 'registry'))
}

/** Names the merge fields whose values differ between the two views, apart from `kept`. */
export function differingFields(
  registry: MergeView,
  fhir: MergeView,
  kept: ReadonlySet<string>,
): string[] {
  const fields = new Set([...Object.keys(registry), ...Object.keys(fhir)])
  return [...fields].filter((field) => !kept.has(field) && !sameValue(registry[field], fhir[field]))
}

/** Returns FHIR's view with the `kept` fields as the registry has them. */
export function fhirSideView(
  registry: MergeView,
  fhir: MergeView,
  kept: ReadonlySet<string>,
): MergeView {
  const view = { ...fhir }
  for (const field of kept) view[field] = registry[field]
  return view
}

/**
 * Splits FHIR ids into groups whose comma-joined length stays within `maxChars`, so that a
 * `_id=a,b,c` search fits in the request line. HAPI 8.8 behind Tomcat rejected lines of about
 * 8 KB with 400.
 */
export function chunkIds(ids: readonly string[], maxChars: number): string[][] {
  const chunks: string[][] = []
  let current: string[] = []
  let length = 0
  for (const id of ids) {
    if (current.length > 0 && length + 1 + id.length > maxChars) {
      chunks.push(current)
      current = []
      length = 0
    }
    length += (current.length > 0 ? 1 : 0) + id.length
    current.push(id)
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}
