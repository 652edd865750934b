import { describe, expect, it } from 'vitest'
import {
  birthDatePrefixProblem,
  filtersFromSearch,
  isFiltered,
  searchOfFilters,
} from './patient-filters.ts'

describe('patient filters', () => {
  it('reads trimmed filters and drops empty ones', () => {
    const search = new URLSearchParams('name=%20Lind%20&identifier=&birthDate=1970&other=x')
    expect(filtersFromSearch(search)).toEqual({ name: 'Lind', birthDate: '1970' })
  })

  it('writes filters in a fixed order', () => {
    const search = searchOfFilters({ birthDate: '1970-01', name: 'Maja', identifier: 'urn:x|1' })
    expect(search.toString()).toBe('name=Maja&identifier=urn%3Ax%7C1&birthDate=1970-01')
  })

  it('reports whether any filter is set', () => {
    expect(isFiltered({})).toBe(false)
    expect(isFiltered({ identifier: 'urn:x|1' })).toBe(true)
  })

  it('accepts year, month and day prefixes', () => {
    expect(birthDatePrefixProblem('')).toBeUndefined()
    expect(birthDatePrefixProblem('1980')).toBeUndefined()
    expect(birthDatePrefixProblem('1980-05')).toBeUndefined()
    expect(birthDatePrefixProblem('1980-05-17')).toBeUndefined()
  })

  it('rejects other birth date text', () => {
    expect(birthDatePrefixProblem('80')).toBeDefined()
    expect(birthDatePrefixProblem('1980-5')).toBeDefined()
    expect(birthDatePrefixProblem('17.05.1980')).toBeDefined()
  })
})
