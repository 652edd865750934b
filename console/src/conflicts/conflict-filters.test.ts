import { describe, expect, it } from 'vitest'
import { bulkFieldOf, filtersFromSearch, isFiltered, searchOfFilters } from './conflict-filters.ts'

describe('filtersFromSearch', () => {
  it('defaults to open conflicts of any type', () => {
    expect(filtersFromSearch(new URLSearchParams())).toEqual({ status: 'open' })
  })

  it('reads every filter', () => {
    const params = new URLSearchParams({
      status: 'resolved',
      entityType: 'condition',
      field: 'code',
      entityId: '5f0c6f0e-7d55-4a5e-9b1b-1c6f4f1f2a3b',
      createdFrom: '2026-01-01T00:00:00.000Z',
      createdTo: '2026-02-01T00:00:00.000Z',
    })

    expect(filtersFromSearch(params)).toEqual({
      status: 'resolved',
      entityType: 'condition',
      field: 'code',
      entityId: '5f0c6f0e-7d55-4a5e-9b1b-1c6f4f1f2a3b',
      createdFrom: '2026-01-01T00:00:00.000Z',
      createdTo: '2026-02-01T00:00:00.000Z',
    })
  })

  it('ignores an unknown status, an unknown type and blank values', () => {
    const params = new URLSearchParams({ status: 'closed', entityType: 'encounter', field: ' ' })

    expect(filtersFromSearch(params)).toEqual({ status: 'open' })
  })
})

describe('page size', () => {
  it('reads an offered page size and drops any other', () => {
    expect(filtersFromSearch(new URLSearchParams('limit=10')).limit).toBe(10)
    expect(filtersFromSearch(new URLSearchParams('limit=25')).limit).toBeUndefined()
    expect(filtersFromSearch(new URLSearchParams('limit=7')).limit).toBeUndefined()
    expect(filtersFromSearch(new URLSearchParams('limit=x')).limit).toBeUndefined()
  })

  it('writes a page size other than the default', () => {
    expect(searchOfFilters({ status: 'open', limit: 50 }).toString()).toBe('limit=50')
    expect(searchOfFilters({ status: 'open', limit: 25 }).toString()).toBe('')
  })

  it('does not count as a filter', () => {
    expect(isFiltered({ status: 'open', limit: 10 })).toBe(false)
    expect(isFiltered({ status: 'open', entityType: 'patient' })).toBe(true)
    expect(isFiltered({ status: 'resolved' })).toBe(true)
  })
})

describe('searchOfFilters', () => {
  it('leaves out the default status', () => {
    expect(searchOfFilters({ status: 'open', field: 'birthDate' }).toString()).toBe(
      'field=birthDate',
    )
  })

  it('round-trips through filtersFromSearch', () => {
    const filters = { status: 'dismissed', entityType: 'patient', field: 'names' } as const

    expect(filtersFromSearch(searchOfFilters(filters))).toEqual(filters)
  })
})

describe('bulkFieldOf', () => {
  it('needs open conflicts of one field', () => {
    expect(bulkFieldOf({ status: 'open', field: 'gender' })).toBe('gender')
    expect(bulkFieldOf({ status: 'open' })).toBeUndefined()
    expect(bulkFieldOf({ status: 'resolved', field: 'gender' })).toBeUndefined()
  })
})
