import {
  CONFLICT_ENTITY_TYPES,
  CONFLICT_STATUSES,
  type ConflictEntityType,
  type ConflictStatus,
} from './conflict-types.ts'

/** Page sizes the queue offers; the API takes up to 200. */
export const PAGE_SIZES = [10, 25, 50, 100] as const
export const DEFAULT_PAGE_SIZE = 25

/** The queue's filters and page size, as the URL query and `GET /conflicts` name them. */
export interface ConflictFilters {
  status: ConflictStatus
  /** Conflicts per page; one of PAGE_SIZES, DEFAULT_PAGE_SIZE when absent. */
  limit?: number
  entityType?: ConflictEntityType
  field?: string
  entityId?: string
  /** ISO 8601 times with an offset, as the API takes them. */
  createdFrom?: string
  createdTo?: string
}

const TEXT_FILTERS = ['field', 'entityId', 'createdFrom', 'createdTo'] as const

function isStatus(value: string | null): value is ConflictStatus {
  return CONFLICT_STATUSES.some((status) => status === value)
}

function isEntityType(value: string | null): value is ConflictEntityType {
  return CONFLICT_ENTITY_TYPES.some((type) => type === value)
}

/**
 * Reads the filters from a URL query. An unknown status or entity type falls back to the default
 * (open, any type), so a mistyped link still opens the queue. Other values go to the API as they
 * are, and the API names any invalid one.
 */
export function filtersFromSearch(params: URLSearchParams): ConflictFilters {
  const status = params.get('status')
  const entityType = params.get('entityType')
  const filters: ConflictFilters = { status: isStatus(status) ? status : 'open' }
  if (isEntityType(entityType)) filters.entityType = entityType
  const limit = Number(params.get('limit'))
  if (PAGE_SIZES.some((size) => size === limit) && limit !== DEFAULT_PAGE_SIZE) {
    filters.limit = limit
  }
  for (const name of TEXT_FILTERS) {
    const value = params.get(name)?.trim()
    if (value !== undefined && value !== '') filters[name] = value
  }
  return filters
}

/** Writes the filters as a URL query, leaving out defaults and empty values. */
export function searchOfFilters(filters: ConflictFilters): URLSearchParams {
  const params = new URLSearchParams()
  if (filters.status !== 'open') params.set('status', filters.status)
  if (filters.limit !== undefined && filters.limit !== DEFAULT_PAGE_SIZE) {
    params.set('limit', String(filters.limit))
  }
  if (filters.entityType !== undefined) params.set('entityType', filters.entityType)
  for (const name of TEXT_FILTERS) {
    const value = filters[name]
    if (value !== undefined && value !== '') params.set(name, value)
  }
  return params
}

/** Checks whether any filter narrows the list, apart from the page size. */
export function isFiltered(filters: ConflictFilters): boolean {
  return searchOfFilters({ ...filters, limit: undefined }).toString() !== ''
}

/** Returns the field that bulk resolution works on, which needs open conflicts of one field. */
export function bulkFieldOf(filters: ConflictFilters): string | undefined {
  return filters.status === 'open' ? filters.field : undefined
}
