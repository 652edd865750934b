import { describe, expect, it } from 'vitest'
import { filtersFromSearch, isFiltered, searchOfFilters } from './audit-filters.ts'

describe('audit filters', () => {
  it('reads known values and drops unknown ones', () => {
    const search = new URLSearchParams(
      'entityType=patient&source=fhir-merge&action=explode&actor=%20&occurredFrom=2026-01-01T00:00:00Z&occurredTo=later',
    )
    expect(filtersFromSearch(search)).toEqual({
      entityType: 'patient',
      entityId: undefined,
      actor: undefined,
      source: 'fhir-merge',
      action: undefined,
      occurredFrom: '2026-01-01T00:00:00.000Z',
      occurredTo: undefined,
    })
  })

  it('writes set filters in a fixed order', () => {
    const search = searchOfFilters({ source: 'user', entityType: 'patient', actor: undefined })
    expect(search.toString()).toBe('entityType=patient&source=user')
  })

  it('reports whether any filter is set', () => {
    expect(isFiltered(filtersFromSearch(new URLSearchParams()))).toBe(false)
    expect(isFiltered({ action: 'create' })).toBe(true)
  })
})
