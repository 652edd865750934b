import type { ApiClient } from '../api/client.ts'

/** How long the dashboard waits between two reads of the sync engine while auto-refresh is on. */
export const REFRESH_INTERVAL_MS = 5_000

export type EntityType = 'patient' | 'condition'
export type DriftKind = 'catch-up' | 'verification'

/** One work queue of pg-boss, as `GET /sync/status` counts it. */
export interface QueueDepth {
  ready: number
  deferred: number
  active: number
  oldestReadyAgeSeconds: number | null
}

/** Rows of one table that are not synced, and how long the oldest pending one has waited. */
export interface RowStates {
  pending: number
  conflict: number
  failed: number
  oldestPendingAgeSeconds: number | null
}

/** A Subscription as HAPI stores it, with `status` `absent` when HAPI has none of that id. */
export interface SubscriptionStatus {
  resourceType: 'Patient' | 'Condition'
  id: string
  status: string
  error: string | null
  endpoint: string | null
}

export interface SyncMode {
  direction: 'two-way' | 'to-fhir' | 'from-fhir'
  trigger: 'subscription' | 'polling'
}

export interface DriftRun {
  id: string
  kind: DriftKind
  status: 'queued' | 'running' | 'finished' | 'failed'
  requestedBy: 'schedule' | 'api' | 'rest-hook'
  createdAt: string
  startedAt: string | null
  finishedAt: string | null
  cursorFrom: string | null
  cursorTo: string | null
  counts: Record<string, number>
  error: string | null
}

export interface DriftFinding {
  id: string
  entityType: EntityType
  entityId: string
  fhirId: string | null
  kind: string
  fields: string[]
  action: string
  registryFhirVersionId: number | null
  fhirVersionId: number | null
  fhirStatus: 'found' | 'deleted' | 'missing'
  createdAt: string
}

/** The body of `GET /sync/status`. */
export interface SyncStatus {
  modes: { Patient: SyncMode; Condition: SyncMode }
  queues: { push: QueueDepth; merge: QueueDepth; drift: QueueDepth }
  deadLetters: Record<string, number>
  rows: { patients: RowStates; conditions: RowStates }
  notifications: {
    unprocessed: number
    parked: number
    oldestUnprocessedAgeSeconds: number | null
  }
  /** Last runs and cursors, typed loosely by the API, so `lastRunOf` checks them. */
  drift: Record<string, unknown>
  subscriptions: { items: SubscriptionStatus[] } | { error: string }
}

export interface FailedEntity {
  entityType: EntityType
  id: string
  fhirId: string | null
  error: string | null
  attempts: number
  updatedAt: string
}

export interface Page<T> {
  items: T[]
  nextCursor: string | null
}

/** Query keys, so that a mutation can invalidate exactly what it changed. */
export const SYNC_KEYS = {
  all: ['sync'] as const,
  status: ['sync', 'status'] as const,
  failed: (entityType: EntityType | '', cursor: string | undefined) =>
    ['sync', 'failed', entityType, cursor] as const,
  findings: (runId: string, cursor: string | undefined) =>
    ['sync', 'findings', runId, cursor] as const,
}

/**
 * Finds the last run of one drift kind in the status's `drift` part, or null when there was none.
 * The API declares that part as an open record, so its shape is checked before use.
 */
export function lastRunOf(drift: Record<string, unknown>, kind: DriftKind): DriftRun | null {
  const entry = drift[kind]
  if (typeof entry !== 'object' || entry === null || !('lastRun' in entry)) return null
  const run = entry.lastRun
  if (typeof run !== 'object' || run === null || !('id' in run) || !('status' in run)) return null
  return run as DriftRun
}

export function fetchStatus(api: ApiClient): Promise<SyncStatus> {
  return api.request<SyncStatus>('/sync/status')
}

export function fetchFailed(
  api: ApiClient,
  entityType: EntityType | '',
  cursor: string | undefined,
  limit: number,
): Promise<Page<FailedEntity>> {
  return api.request<Page<FailedEntity>>('/sync/failed', {
    query: { entityType: entityType === '' ? undefined : entityType, cursor, limit },
  })
}

export function replayFailed(api: ApiClient, entityType: EntityType, id: string): Promise<unknown> {
  return api.request(`/sync/failed/${entityType}/${id}/replay`, { method: 'POST' })
}

export function replayAllFailed(
  api: ApiClient,
  entityType: EntityType | '',
): Promise<{ replayed: number }> {
  return api.request<{ replayed: number }>('/sync/failed/replay', {
    method: 'POST',
    body: entityType === '' ? {} : { entityType },
  })
}

export function fetchFindings(
  api: ApiClient,
  runId: string,
  cursor: string | undefined,
  limit: number,
): Promise<Page<DriftFinding>> {
  return api.request<Page<DriftFinding>>(`/sync/drift/runs/${runId}/findings`, {
    query: { cursor, limit },
  })
}

export function startDriftRun(api: ApiClient, kind: DriftKind): Promise<DriftRun> {
  return api.request<DriftRun>('/sync/drift/runs', { method: 'POST', body: { kind } })
}

export function registerSubscriptions(api: ApiClient): Promise<{ items: SubscriptionStatus[] }> {
  return api.request<{ items: SubscriptionStatus[] }>('/sync/subscriptions', { method: 'POST' })
}
