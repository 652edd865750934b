import { describe, expect, it } from 'vitest'
import { CONDITION_CLINICAL_STATUS, CONDITION_VERIFICATION_STATUS } from '../fhir/constants.ts'
import {
  ADMINISTRATIVE_GENDER_VALUE_SET,
  CLINICAL_STATUS_VALUE_SET,
  FIXED_VALUE_SETS,
  VERIFICATION_STATUS_VALUE_SET,
  codesOf,
  parseValueSetFile,
} from './value-sets.ts'

const VALID_FILE = {
  id: 'test-set',
  title: 'Test set',
  description: 'A set for tests',
  url: 'http://example.org/ValueSet/test-set',
  codes: [{ system: 'http://example.org/codes', code: 'a', display: 'A' }],
}

describe('bundled value sets', () => {
  it('loads administrative gender', () => {
    expect(codesOf(ADMINISTRATIVE_GENDER_VALUE_SET)).toEqual(['male', 'female', 'other', 'unknown'])
    expect(ADMINISTRATIVE_GENDER_VALUE_SET.codes.map((code) => code.system)).toEqual(
      Array(4).fill('http://hl7.org/fhir/administrative-gender'),
    )
  })

  it('loads the clinical statuses of FHIR R4', () => {
    expect(codesOf(CLINICAL_STATUS_VALUE_SET)).toEqual([
      'active',
      'recurrence',
      'relapse',
      'inactive',
      'remission',
      'resolved',
    ])
    expect(new Set(CLINICAL_STATUS_VALUE_SET.codes.map((code) => code.system))).toEqual(
      new Set([CONDITION_CLINICAL_STATUS]),
    )
  })

  it('loads the verification statuses of FHIR R4', () => {
    expect(codesOf(VERIFICATION_STATUS_VALUE_SET)).toEqual([
      'unconfirmed',
      'provisional',
      'differential',
      'confirmed',
      'refuted',
      'entered-in-error',
    ])
    expect(new Set(VERIFICATION_STATUS_VALUE_SET.codes.map((code) => code.system))).toEqual(
      new Set([CONDITION_VERIFICATION_STATUS]),
    )
  })

  it('gives every code a display', () => {
    const codes = FIXED_VALUE_SETS.flatMap((valueSet) => valueSet.codes)

    expect(codes.filter((code) => code.display.trim() === '')).toEqual([])
  })

  it('has unique ids', () => {
    const ids = FIXED_VALUE_SETS.map((valueSet) => valueSet.id)

    expect(new Set(ids).size).toBe(ids.length)
  })
})

describe('parseValueSetFile', () => {
  it('keeps id, title, description and codes', () => {
    expect(parseValueSetFile(VALID_FILE, 'test.json')).toEqual({
      id: 'test-set',
      title: 'Test set',
      description: 'A set for tests',
      codes: VALID_FILE.codes,
    })
  })

  it.each([
    ['no codes', { ...VALID_FILE, codes: [] }],
    ['an id with capitals', { ...VALID_FILE, id: 'Test-Set' }],
    ['a code without display', { ...VALID_FILE, codes: [{ system: 'http://x.org', code: 'a' }] }],
    [
      'a system that is no URL',
      { ...VALID_FILE, codes: [{ system: 'x', code: 'a', display: 'A' }] },
    ],
    ['no url', { ...VALID_FILE, url: undefined }],
  ])('rejects a file with %s', (_case, content) => {
    expect(() => parseValueSetFile(content, 'test.json')).toThrow(/test\.json/)
  })
})
