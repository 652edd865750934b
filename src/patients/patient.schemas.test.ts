import { describe, expect, it } from 'vitest'
import { ValidationError } from '../platform/errors.ts'
import {
  checkDeathAfterBirth,
  patientFieldsSchema,
  patientListQuerySchema,
} from './patient.schemas.ts'

function issuesOf(input: unknown): { path: string; message: string }[] {
  const result = patientFieldsSchema.safeParse(input)
  return result.success
    ? []
    : result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }))
}

describe('patientFieldsSchema', () => {
  it('reports a malformed birth date once', () => {
    const issues = issuesOf({ birthDate: 'not-a-date' })

    expect(issues.map((issue) => issue.path)).toEqual(['birthDate'])
  })

  it('rejects a birth date in the future', () => {
    expect(issuesOf({ birthDate: '2999-01-01' }).map((issue) => issue.path)).toEqual(['birthDate'])
  })

  it('accepts a birth date of this year', () => {
    expect(issuesOf({ birthDate: new Date().toISOString().slice(0, 4) })).toEqual([])
  })

  it('rejects a date of death in the future', () => {
    const issues = issuesOf({ deceased: { dateTime: '2999-01-01T10:00:00Z' } })

    expect(issues).toHaveLength(1)
  })

  it('accepts a date of death in the past', () => {
    expect(issuesOf({ deceased: { dateTime: '2021-03-04T10:00:00+01:00' } })).toEqual([])
  })

  it.each([
    ['telecom value', { telecom: [{ system: 'phone', value: ' ' }] }, 'telecom.0.value'],
    ['family name', { names: [{ family: '\t' }] }, 'names.0.family'],
    ['address line', { addresses: [{ line: ['  '] }] }, 'addresses.0.line.0'],
  ])('rejects a %s of whitespace only', (_label, input, path) => {
    expect(issuesOf(input).map((issue) => issue.path)).toEqual([path])
  })

  it('accepts text with inner whitespace', () => {
    expect(issuesOf({ names: [{ family: 'van der Berg', given: ['Anna Maria'] }] })).toEqual([])
  })
})

describe('checkDeathAfterBirth', () => {
  it('accepts a death after the birth', () => {
    expect(() => {
      checkDeathAfterBirth({ birthDate: '1980-05-17', deceased: { dateTime: '2020-01-02' } })
    }).not.toThrow()
  })

  it('compares at the shared precision', () => {
    expect(() => {
      checkDeathAfterBirth({ birthDate: '1980', deceased: { dateTime: '1980-01-01T00:00:00Z' } })
    }).not.toThrow()
  })

  it('rejects a death before the birth', () => {
    expect(() => {
      checkDeathAfterBirth({ birthDate: '1980-05', deceased: { dateTime: '1979-12-31' } })
    }).toThrow(ValidationError)
  })

  it('ignores a deceased flag', () => {
    expect(() => {
      checkDeathAfterBirth({ birthDate: '1980', deceased: { boolean: true } })
    }).not.toThrow()
  })
})

describe('patientListQuerySchema', () => {
  it('rejects an identifier without a value', () => {
    expect(patientListQuerySchema.safeParse({ identifier: 'urn:example|' }).success).toBe(false)
    expect(patientListQuerySchema.safeParse({ identifier: '|' }).success).toBe(false)
  })

  it('takes system|value and a bare value', () => {
    expect(patientListQuerySchema.safeParse({ identifier: 'urn:example|42' }).success).toBe(true)
    expect(patientListQuerySchema.safeParse({ identifier: '42' }).success).toBe(true)
  })
})
