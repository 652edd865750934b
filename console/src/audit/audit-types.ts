/** Shapes and enumerations of the API's audit log (`GET /audit`). */

export const AUDIT_SOURCES = ['user', 'fhir-merge', 'steward', 'drift'] as const
export type AuditSource = (typeof AUDIT_SOURCES)[number]

export const AUDIT_ENTITY_TYPES = ['patient', 'condition', 'user'] as const
export type AuditEntityType = (typeof AUDIT_ENTITY_TYPES)[number]

export const AUDIT_ACTIONS = [
  'create',
  'update',
  'delete',
  'restore',
  'revert',
  'resolve',
  'dismiss',
] as const
export type AuditAction = (typeof AUDIT_ACTIONS)[number]

export interface AuditLogEntry {
  id: string
  occurredAt: string
  actor: string
  source: AuditSource
  action: AuditAction
  entityType: AuditEntityType
  entityId: string
  before: unknown
  after: unknown
  requestId: string | null
  conflictId: string | null
}

export interface AuditPage {
  items: AuditLogEntry[]
  nextCursor: string | null
}
