/** Statuses a conflict moves through; the queue lists the open ones by default. */
export const CONFLICT_STATUSES = ['open', 'resolved', 'dismissed'] as const
export type ConflictStatus = (typeof CONFLICT_STATUSES)[number]

export const CONFLICT_ENTITY_TYPES = ['patient', 'condition'] as const
export type ConflictEntityType = (typeof CONFLICT_ENTITY_TYPES)[number]

/** The merge field of a conflict between a delete on one side and an edit on the other. */
export const DELETION_FIELD = '(deleted)'

/** A conflict as `GET /conflicts` returns it (`Conflict` in the OpenAPI document). */
export interface Conflict {
  id: string
  entityType: ConflictEntityType
  entityId: string
  field: string
  itemKey: string | null
  status: ConflictStatus
  baseValue: unknown
  registryValue: unknown
  fhirValue: unknown
  registryVersion: number
  fhirVersionId: number
  registryUpdatedAt: string
  fhirUpdatedAt: string | null
  resolution: string | null
  resolvedBy: string | null
  resolvedValue: unknown
  resolutionReason: string | null
  resolvedAt: string | null
  createdAt: string
  updatedAt: string
}

/** A conflict with its entity as it is now (`ConflictDetail`). */
export interface ConflictDetail extends Conflict {
  entity: {
    version: number
    deleted: boolean
    syncState: 'pending' | 'synced' | 'conflict' | 'failed'
  } | null
}

export interface ConflictPage {
  items: Conflict[]
  nextCursor: string | null
}

export type BulkOutcome = 'resolved' | 'stale' | 'not-open' | 'not-found' | 'rejected' | 'failed'

/** One conflict's outcome of `POST /conflicts/resolve`. */
export interface BulkResult {
  id: string
  outcome: BulkOutcome
  status?: ConflictStatus
  registryValue?: unknown
  fhirValue?: unknown
  code?: string
  detail?: string
}

/** The side a steward takes, or a value they supply (`ConflictResolution`). */
export type ResolveChoice =
  { choice: 'registry' } | { choice: 'fhir' } | { choice: 'value'; value: unknown }
