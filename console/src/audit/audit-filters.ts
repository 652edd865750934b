import {
  AUDIT_ACTIONS,
  AUDIT_ENTITY_TYPES,
  AUDIT_SOURCES,
  type AuditAction,
  type AuditEntityType,
  type AuditSource,
} from './audit-types.ts'

/** Filters of the audit log page, as the URL query stores them and `GET /audit` takes them. */
export interface AuditFilters {
  entityType?: AuditEntityType
  entityId?: string
  actor?: string
  source?: AuditSource
  action?: AuditAction
  /** ISO time, inclusive. */
  occurredFrom?: string
  /** ISO time, exclusive. */
  occurredTo?: string
}

const FILTER_NAMES = [
  'entityType',
  'entityId',
  'actor',
  'source',
  'action',
  'occurredFrom',
  'occurredTo',
] as const

function oneOf<T extends string>(values: readonly T[], value: string | undefined): T | undefined {
  return values.find((candidate) => candidate === value)
}

function isoTime(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const time = new Date(value)
  return Number.isNaN(time.getTime()) ? undefined : time.toISOString()
}

/**
 * Reads the filters out of the URL query. Values the API would reject (an unknown source, a
 * time that does not parse) are dropped, so a hand-edited link still opens a list.
 */
export function filtersFromSearch(search: URLSearchParams): AuditFilters {
  const text = (name: string) => search.get(name)?.trim() || undefined
  return {
    entityType: oneOf(AUDIT_ENTITY_TYPES, text('entityType')),
    entityId: text('entityId'),
    actor: text('actor'),
    source: oneOf(AUDIT_SOURCES, text('source')),
    action: oneOf(AUDIT_ACTIONS, text('action')),
    occurredFrom: isoTime(text('occurredFrom')),
    occurredTo: isoTime(text('occurredTo')),
  }
}

/** Writes the filters into a URL query in a fixed order, leaving out unset ones. */
export function searchOfFilters(filters: AuditFilters): URLSearchParams {
  const search = new URLSearchParams()
  for (const name of FILTER_NAMES) {
    const value = filters[name]
    if (value !== undefined && value !== '') search.set(name, value)
  }
  return search
}

export function isFiltered(filters: AuditFilters): boolean {
  return FILTER_NAMES.some((name) => filters[name] !== undefined)
}
