import { describe, expect, it } from 'vitest'
import { ValidationError } from './errors.ts'
import { expectedVersionOf, fhirDateTimeSchema, isValidFhirDate, parseIfMatch } from './schemas.ts'

describe('isValidFhirDate', () => {
  it.each(['1980', '1980-05', '1980-05-17', '2000-02-29', '1980-02-29', '2023-12-31', '0001'])(
    'accepts %s',
    (value) => {
      expect(isValidFhirDate(value)).toBe(true)
    },
  )

  it.each([
    ['1981-02-29', 'not a leap year'],
    ['1900-02-29', 'a century that is not a leap year'],
    ['1980-04-31', 'a day past the end of the month'],
    ['1980-13', 'month 13'],
    ['1980-00', 'month 0'],
    ['1980-05-00', 'day 0'],
    ['1980-5', 'a one-digit month'],
    ['1980-05-7', 'a one-digit day'],
    ['0000', 'year 0000, which FHIR dates exclude'],
    ['80', 'a two-digit year'],
    ['1980-05-17T10:00:00Z', 'a time'],
    ['17/05/1980', 'another format'],
    ['', 'an empty string'],
  ])('rejects %s (%s)', (value) => {
    expect(isValidFhirDate(value)).toBe(false)
  })
})

describe('fhirDateTimeSchema', () => {
  it.each([
    '2019',
    '2019-04-02',
    '2019-04-02T23:59:60Z',
    '2019-04-02T00:00:00.123456789+14:00',
    '2019-04-02T10:30:00-13:59',
  ])('accepts %s', (value) => {
    expect(fhirDateTimeSchema.safeParse(value).success).toBe(true)
  })

  it.each([
    ['2019-04-02T24:00:00Z', 'hour 24'],
    ['2019-04-02T25:00:00Z', 'hour 25'],
    ['2019-04-02T10:60:00Z', 'minute 60'],
    ['2019-04-02T10:30:61Z', 'second 61'],
    ['2019-04-02T10:30:00+14:30', 'an offset past 14:00'],
    ['2019-04-02T10:30:00+10:60', 'offset minute 60'],
    ['2019-04-02T10:30:00', 'no zone'],
    ['2019-04-02T10:30Z', 'no seconds'],
    ['2019-02-30T10:30:00Z', 'a day past the end of the month'],
  ])('rejects %s (%s)', (value) => {
    expect(fhirDateTimeSchema.safeParse(value).success).toBe(false)
  })
})

describe('parseIfMatch', () => {
  it.each([
    ['"3"', 3],
    ['W/"3"', 3],
    ['3', 3],
    [' "12" ', 12],
    ['W/"0"', 0],
  ])('reads %s as %i', (header, version) => {
    expect(parseIfMatch(header)).toBe(version)
  })

  it('returns undefined without a header', () => {
    expect(parseIfMatch(undefined)).toBeUndefined()
  })

  it.each(['*', '"abc"', 'W/"3a"', '""', '"3", "4"', 'w/"3"'])('reads %s as NaN', (header) => {
    expect(parseIfMatch(header)).toBeNaN()
  })
})

describe('expectedVersionOf', () => {
  it('returns the version of a weak ETag', () => {
    expect(expectedVersionOf('W/"5"')).toBe(5)
  })

  it('returns undefined without a header', () => {
    expect(expectedVersionOf(undefined)).toBeUndefined()
  })

  it('rejects a header that names no version', () => {
    let thrown: unknown
    try {
      expectedVersionOf('*')
    } catch (error) {
      thrown = error
    }

    expect(thrown).toBeInstanceOf(ValidationError)
    expect((thrown as ValidationError).status).toBe(400)
    expect((thrown as ValidationError).code).toBe('VALIDATION_FAILED')
    expect((thrown as ValidationError).fieldErrors.map((error) => error.path)).toEqual(['If-Match'])
  })
})
