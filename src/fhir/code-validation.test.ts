import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { isValidIcd10CmCode, isValidSnomedId, validateConditionCodings } from './code-validation.ts'
import { ICD_10_CM, SNOMED_CT } from './constants.ts'
import { NeurologyValueSet } from './neurology-value-set.ts'

const DATA_DIR = process.env.SAMPLE_DATA_DIR ?? join(import.meta.dirname, '../../../shared/data')

function collectSnomedCodes(value: unknown, codes: Set<string>): void {
  if (Array.isArray(value)) {
    for (const item of value) collectSnomedCodes(item, codes)
    return
  }
  if (value === null || typeof value !== 'object') return

  const record = value as Record<string, unknown>
  if (record.system === SNOMED_CT && typeof record.code === 'string') codes.add(record.code)
  for (const inner of Object.values(record)) collectSnomedCodes(inner, codes)
}

/** Collects the SNOMED CT code of every coding in the Synthea bundles and the bulk NDJSON files. */
function loadSnomedCodes(): string[] {
  const codes = new Set<string>()
  const syntheaDir = join(DATA_DIR, 'synthea')
  for (const file of readdirSync(syntheaDir).filter((name) => name.endsWith('.json'))) {
    collectSnomedCodes(JSON.parse(readFileSync(join(syntheaDir, file), 'utf8')), codes)
  }
  const bulkDir = join(DATA_DIR, 'bulk-10-patients')
  for (const file of readdirSync(bulkDir).filter((name) => name.endsWith('.ndjson'))) {
    for (const line of readFileSync(join(bulkDir, file), 'utf8').split('\n')) {
      if (line.trim() !== '') collectSnomedCodes(JSON.parse(line), codes)
    }
  }
  return [...codes].sort()
}

const SNOMED_CODES_IN_DATA = loadSnomedCodes()

const valueSet = NeurologyValueSet.fromFile()

describe('isValidSnomedId', () => {
  it.each([
    '84757009',
    '128613002',
    '703151001',
    '26929004',
    '230690007',
    '124171000119105',
    '24700007',
    '49049000',
    '138875005',
  ])('accepts %s', (code) => {
    expect(isValidSnomedId(code)).toBe(true)
  })

  it('finds SNOMED CT codes in the data', () => {
    expect(SNOMED_CODES_IN_DATA.length).toBeGreaterThan(20)
  })

  it.each(SNOMED_CODES_IN_DATA)('accepts %s from the data', (code) => {
    expect(isValidSnomedId(code)).toBe(true)
  })

  it.each([
    ['84757008', 'a changed last digit'],
    ['84757000', 'a zeroed last digit'],
    ['128613003', 'a changed last digit'],
    ['124171000119106', 'a changed last digit'],
    ['87457009', 'two swapped digits'],
    ['8475700X', 'a letter'],
    ['84757OO9', 'letters O for zeros'],
    ['084757009', 'a leading zero'],
    ['12345', 'five digits'],
    ['1234567890123456789', 'nineteen digits'],
    ['', 'an empty string'],
    [' 84757009', 'a leading space'],
    ['84757009 ', 'a trailing space'],
    ['-84757009', 'a sign'],
  ])('rejects %s (%s)', (code) => {
    expect(isValidSnomedId(code)).toBe(false)
  })

  it('accepts only the right check digit', () => {
    const accepted = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'].filter((digit) =>
      isValidSnomedId(`8475700${digit}`),
    )

    expect(accepted).toEqual(['9'])
  })
})

describe('isValidIcd10CmCode', () => {
  it.each([
    'G40.909',
    'G35',
    'G20',
    'G20.A1',
    'G20.C',
    'I63.9',
    'S06.0X0A',
    'C4A.9',
    'Z3A.01',
    'F03.90',
    'U07.1',
    'U09.9',
  ])('accepts %s', (code) => {
    expect(isValidIcd10CmCode(code)).toBe(true)
  })

  it.each([
    ['G40909', 'the dot left out'],
    ['G40.', 'nothing after the dot'],
    ['G40.90912', 'five characters after the dot'],
    ['g40.909', 'lower case'],
    ['GG0.9', 'a letter in second place'],
    ['4G0.9', 'a digit in first place'],
    ['G4', 'two characters'],
    ['G40 909', 'a space for the dot'],
    ['84757009', 'a SNOMED CT id'],
    ['', 'an empty string'],
  ])('rejects %s (%s)', (code) => {
    expect(isValidIcd10CmCode(code)).toBe(false)
  })
})

describe('validateConditionCodings', () => {
  it('accepts one valid SNOMED CT coding', () => {
    expect(
      validateConditionCodings([{ system: SNOMED_CT, code: '84757009' }], 'code.coding', valueSet),
    ).toEqual([])
  })

  it('accepts one valid ICD-10-CM coding', () => {
    expect(
      validateConditionCodings([{ system: ICD_10_CM, code: 'G40.909' }], 'code.coding', valueSet),
    ).toEqual([])
  })

  it('passes codings of other systems next to a valid one', () => {
    const codings = [
      { system: 'http://example.org/local-codes', code: 'anything goes' },
      { system: SNOMED_CT, code: '84757009' },
    ]

    expect(validateConditionCodings(codings, 'code.coding', valueSet)).toEqual([])
  })

  it('reports an invalid SNOMED CT code at its index', () => {
    const codings = [
      { system: ICD_10_CM, code: 'G40.909' },
      { system: SNOMED_CT, code: '84757008' },
    ]

    const errors = validateConditionCodings(codings, 'code.coding', valueSet)

    expect(errors.map((error) => error.path)).toEqual(['code.coding.1.code'])
  })

  it('reports an invalid ICD-10-CM code at its index', () => {
    const errors = validateConditionCodings(
      [{ system: ICD_10_CM, code: 'G40909' }],
      'code.coding',
      valueSet,
    )

    expect(errors.map((error) => error.path)).toEqual(['code.coding.0.code'])
  })

  it('reports every invalid code', () => {
    const codings = [
      { system: SNOMED_CT, code: 'epilepsy' },
      { system: ICD_10_CM, code: 'G40909' },
    ]

    const errors = validateConditionCodings(codings, 'code.coding', valueSet)

    expect(errors.map((error) => error.path)).toEqual(['code.coding.0.code', 'code.coding.1.code'])
  })

  it('reports a list without SNOMED CT or ICD-10-CM', () => {
    const codings = [{ system: 'http://example.org/local-codes', code: 'EPI' }]

    const errors = validateConditionCodings(codings, 'code.coding', valueSet)

    expect(errors.map((error) => error.path)).toEqual(['code.coding'])
  })

  it('reports an empty list', () => {
    const errors = validateConditionCodings([], 'code.coding', valueSet)

    expect(errors.map((error) => error.path)).toEqual(['code.coding'])
  })
})

describe('validateConditionCodings with the chapter G list', () => {
  it.each(['G40.909', 'G40', 'G35', 'G35.A', 'G20', 'G20.A1', 'G43.709', 'G81.94'])(
    'accepts listed %s',
    (code) => {
      expect(
        validateConditionCodings([{ system: ICD_10_CM, code }], 'code.coding', valueSet),
      ).toEqual([])
    },
  )

  it.each(['G40.99', 'G42', 'G99.9', 'G35.E', 'G20.A3'])('rejects unlisted %s', (code) => {
    const errors = validateConditionCodings([{ system: ICD_10_CM, code }], 'code.coding', valueSet)

    expect(errors.map((error) => error.path)).toEqual(['code.coding.0.code'])
    expect(errors[0]?.message).toContain(code)
  })

  it.each(['I63.9', 'I10', 'E11.9', 'S06.0X0A'])('accepts %s of another chapter', (code) => {
    expect(
      validateConditionCodings([{ system: ICD_10_CM, code }], 'code.coding', valueSet),
    ).toEqual([])
  })

  it('reports a malformed G code once', () => {
    const errors = validateConditionCodings(
      [{ system: ICD_10_CM, code: 'G40909' }],
      'code.coding',
      valueSet,
    )

    expect(errors).toHaveLength(1)
  })

  it('checks G codes for form only without a list', () => {
    const withoutList = new NeurologyValueSet([], ['G'])

    expect(
      validateConditionCodings([{ system: ICD_10_CM, code: 'G40.99' }], 'code.coding', withoutList),
    ).toEqual([])
  })

  it('accepts a non-neurological SNOMED CT code', () => {
    const hypertension = { system: SNOMED_CT, code: '38341003' }

    expect(validateConditionCodings([hypertension], 'code.coding', valueSet)).toEqual([])
  })
})
