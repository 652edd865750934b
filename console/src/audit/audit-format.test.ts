import { describe, expect, it } from 'vitest'
import { changedFields, formatAuditValue, sourceLabel } from './audit-format.ts'

describe('changedFields', () => {
  it('lists only the fields an update changed', () => {
    const before = {
      gender: 'female',
      birthDate: '1970',
      telecom: [{ value: '1', system: 'phone' }],
    }
    const after = { gender: 'other', birthDate: '1970', telecom: [{ system: 'phone', value: '1' }] }
    expect(changedFields(before, after)).toEqual([
      { field: 'gender', before: 'female', after: 'other' },
    ])
  })

  it('lists every field of a create and a delete', () => {
    expect(changedFields(null, { gender: 'male', deceased: null })).toEqual([
      { field: 'gender', before: undefined, after: 'male' },
      { field: 'deceased', before: undefined, after: null },
    ])
    expect(changedFields({ gender: 'male' }, null)).toEqual([
      { field: 'gender', before: 'male', after: undefined },
    ])
  })

  it('treats a non-object value as one change', () => {
    expect(changedFields('1970', '1971')).toEqual([
      { field: 'value', before: '1970', after: '1971' },
    ])
    expect(changedFields(null, null)).toEqual([])
  })
})

describe('audit labels', () => {
  it('names the source in words and as the API does', () => {
    expect(sourceLabel('fhir-merge')).toBe('FHIR merge (fhir-merge)')
    expect(sourceLabel('user')).toBe('API (user)')
  })

  it('formats absent and null apart', () => {
    expect(formatAuditValue(undefined)).toBe('absent')
    expect(formatAuditValue(null)).toBe('null')
    expect(formatAuditValue(['a'])).toBe('["a"]')
  })
})
