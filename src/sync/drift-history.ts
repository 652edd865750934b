import type { Bundle, Resource } from '@medplum/fhirtypes'

/** One entry of a history page: a version of a resource, or the version that deleted it. */
export interface HistoryChange {
  resourceType: string
  resourceId: string
  versionId: number
  deleted: boolean
  /** The version's content; null for a deletion. */
  resource: Resource | null
}

/** The registry's record of one resource, against which a history entry counts as new or seen. */
export interface KnownResource {
  /** The FHIR version the registry row recorded; undefined when no row has this FHIR id. */
  rowVersionId: number | null | undefined
  rowDeleted: boolean
  /** Highest version of a create or update notification already recorded, if any. */
  notifiedVersionId: number | null
  /** Highest version of a delete notification already recorded, if any. */
  notifiedDeleteVersionId: number | null
}

export const UNKNOWN_RESOURCE: KnownResource = {
  rowVersionId: undefined,
  rowDeleted: false,
  notifiedVersionId: null,
  notifiedDeleteVersionId: null,
}

// `Patient/123/_history/4` or `Patient/123`, relative as HAPI writes them, or absolute.
const RESOURCE_URL = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/(\d+))?$/
const ETAG_VERSION = /^(?:W\/)?"?(\d+)"?$/

/**
 * Reads the changes of one history page. HAPI 8.8 names a deleted version only in
 * `request.url` (`Patient/123/_history/4`) and the ETag. An entry that names no resource and
 * version is counted in `unreadable` rather than guessed at.
 */
export function historyChanges(page: Bundle): { changes: HistoryChange[]; unreadable: number } {
  const changes: HistoryChange[] = []
  let unreadable = 0
  for (const entry of page.entry ?? []) {
    const deleted = entry.request?.method === 'DELETE'
    const resource = deleted ? null : (entry.resource ?? null)
    const fromUrl =
      RESOURCE_URL.exec(entry.request?.url ?? '') ?? RESOURCE_URL.exec(entry.fullUrl ?? '')
    const resourceType = resource?.resourceType ?? fromUrl?.[1]
    const resourceId = resource?.id ?? fromUrl?.[2]
    const versionId = Number(
      resource?.meta?.versionId ??
        fromUrl?.[3] ??
        ETAG_VERSION.exec(entry.response?.etag ?? '')?.[1],
    )
    if (!resourceType || !resourceId || !Number.isInteger(versionId) || versionId < 1) {
      unreadable += 1
      continue
    }
    changes.push({ resourceType, resourceId, versionId, deleted, resource })
  }
  return { changes, unreadable }
}

/**
 * Drops the changes this run has read already and adds the others to `seen`. HAPI pages history
 * by offset, newest first, so a write during paging pushes older entries onto the next page,
 * where they come again.
 */
export function dropRepeats(changes: readonly HistoryChange[], seen: Set<string>): HistoryChange[] {
  const fresh: HistoryChange[] = []
  for (const change of changes) {
    const key = `${change.resourceType}/${change.resourceId}/${change.versionId}`
    if (seen.has(key)) continue
    seen.add(key)
    fresh.push(change)
  }
  return fresh
}

/**
 * True when the registry already has this change, or has it on its way through the merge: the row
 * records this version or a later one, or a notification of it is recorded. A deletion is also
 * old news when the row is deleted or the registry never had the resource, because the merge of
 * such a delete changes nothing.
 */
export function alreadySeen(change: HistoryChange, known: KnownResource): boolean {
  if (change.deleted) {
    if (known.rowVersionId === undefined || known.rowDeleted) return true
    return (known.notifiedDeleteVersionId ?? 0) >= change.versionId
  }
  if ((known.rowVersionId ?? 0) >= change.versionId) return true
  return (known.notifiedVersionId ?? 0) >= change.versionId
}

/** Reads the server's time from a history page (`Bundle.meta.lastUpdated`); null when absent. */
export function serverTimeOf(page: Bundle): Date | null {
  const stamp = page.meta?.lastUpdated
  if (!stamp) return null
  const time = new Date(stamp)
  return Number.isNaN(time.getTime()) ? null : time
}
