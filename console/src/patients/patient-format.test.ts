import { describe, expect, it } from 'vitest'
import {
  canonicalJson,
  compareFields,
  conditionCodes,
  conditionDisplay,
  fieldValuesDiffer,
  formatAddress,
  formatDeceased,
  formatName,
  primaryName,
} from './patient-format.ts'
import type { PatientFields } from './patient-types.ts'

const FIELDS: PatientFields = {
  names: [{ use: 'official', family: 'Lindqvist', given: ['Maja', 'Li'] }],
  birthDate: '1970-01-01',
  gender: 'female',
  identifiers: [{ system: 'urn:registry', value: 'a1' }],
  telecom: [
    { system: 'phone', value: '555-0101' },
    { system: 'email', value: 'maja@example.org' },
  ],
  addresses: [],
  deceased: null,
}

describe('patient formatting', () => {
  it('formats a name with its use', () => {
    expect(formatName({ use: 'official', family: 'Lindqvist', given: ['Maja'] })).toBe(
      'Maja Lindqvist (official)',
    )
    expect(formatName({ text: 'M. Lindqvist' })).toBe('M. Lindqvist')
  })

  it('picks the official name for lists', () => {
    const names = [
      { use: 'nickname', given: ['Mo'] },
      { use: 'official', family: 'Lindqvist' },
    ]
    expect(primaryName(names)).toBe('Lindqvist')
    expect(primaryName([])).toBe('(no name)')
  })

  it('formats an address and deceased', () => {
    expect(formatAddress({ line: ['Main St 1'], city: 'Lund', country: 'SE', use: 'home' })).toBe(
      'Main St 1, Lund, SE (home)',
    )
    expect(formatDeceased({ boolean: false })).toBe('no')
    expect(formatDeceased({ dateTime: '2020-01-01' })).toBe('died 2020-01-01')
  })

  it('formats condition codes', () => {
    const condition = {
      code: {
        coding: [
          { system: 'http://snomed.info/sct', code: '24700007', display: 'Multiple sclerosis' },
          { system: 'urn:local', code: 'ms' },
        ],
      },
    }
    expect(conditionDisplay(condition)).toBe('Multiple sclerosis')
    expect(conditionCodes(condition)).toEqual(['SNOMED CT 24700007', 'urn:local ms'])
  })
})

describe('field comparison', () => {
  it('ignores key order and list order', () => {
    expect(canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] })).toBe('{"a":[2,{"c":4,"d":3}],"b":1}')
    expect(fieldValuesDiffer(FIELDS.telecom, [...FIELDS.telecom].reverse())).toBe(false)
  })

  it('marks only the fields that differ', () => {
    const fhir: PatientFields = {
      ...FIELDS,
      birthDate: '1970-01-02',
      telecom: [...FIELDS.telecom, { system: 'phone', value: '555-0199', use: 'mobile' }],
    }
    const rows = compareFields(FIELDS, fhir)
    const differing = rows.filter((row) => row.differs).map((row) => row.field)

    expect(differing).toEqual(['birthDate', 'telecom'])
    expect(rows.find((row) => row.field === 'telecom')?.fhir).toContain('phone: 555-0199 (mobile)')
    expect(rows.find((row) => row.field === 'deceased')?.registry).toEqual([])
  })

  it('marks no field of equal records', () => {
    const rows = compareFields(FIELDS, { ...FIELDS })
    expect(rows.every((row) => !row.differs)).toBe(true)
  })
})
