import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import type { Bundle } from '@medplum/fhirtypes'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError } from '../platform/config.ts'
import { isValidIcd10CmCode } from './code-validation.ts'
import { ICD_10_CM, SNOMED_CT } from './constants.ts'
import {
  NeurologyValueSet,
  VALUE_SET_FILE_VARIABLE,
  ValueSetFileError,
} from './neurology-value-set.ts'

const SYNTHEA_DIR = join(
  process.env.SAMPLE_DATA_DIR ?? join(import.meta.dirname, '../../../shared/data'),
  'synthea',
)

const valueSet = NeurologyValueSet.fromFile()

const tempDir = mkdtempSync(join(tmpdir(), 'value-set-'))
afterAll(() => {
  rmSync(tempDir, { recursive: true, force: true })
})

function writeValueSetFile(content: unknown): string {
  return writeRawFile(JSON.stringify(content))
}

function writeRawFile(text: string): string {
  const path = join(mkdtempSync(join(tempDir, 'file-')), 'value-set.json')
  writeFileSync(path, text)
  return path
}

function loadError(path: string): ValueSetFileError {
  try {
    NeurologyValueSet.fromFile(path)
  } catch (error) {
    if (error instanceof ValueSetFileError) return error
    throw error
  }
  throw new Error('Value set loaded, but a ValueSetFileError was expected')
}

const EPILEPSY_ONLY = {
  snomedCt: { concepts: { '84757009': 'Epilepsy' } },
  icd10cm: { prefixes: [] },
}

function bundleHasNeurologicalCondition(file: string): boolean {
  const bundle = JSON.parse(readFileSync(join(SYNTHEA_DIR, file), 'utf8')) as Bundle
  return (bundle.entry ?? [])
    .map((entry) => entry.resource)
    .filter((resource) => resource?.resourceType === 'Condition')
    .some((resource) => valueSet.containsAny(resource.code?.coding))
}

describe('NeurologyValueSet.fromFile', () => {
  it('loads the shipped file', () => {
    expect(valueSet).toBeInstanceOf(NeurologyValueSet)
  })

  it('loads a file given by path', () => {
    const path = writeValueSetFile({
      snomedCt: { concepts: { '84757009': 'Epilepsy' } },
      icd10cm: { prefixes: ['G40'] },
    })

    const loaded = NeurologyValueSet.fromFile(path)

    expect(loaded.contains({ system: SNOMED_CT, code: '84757009' })).toBe(true)
    expect(loaded.contains({ system: SNOMED_CT, code: '26929004' })).toBe(false)
    expect(loaded.contains({ system: ICD_10_CM, code: 'G40.909' })).toBe(true)
    expect(loaded.contains({ system: ICD_10_CM, code: 'G35' })).toBe(false)
  })

  it.each([
    [
      'a non-numeric SNOMED CT key',
      { snomedCt: { concepts: { epilepsy: 'Epilepsy' } }, icd10cm: { prefixes: [] } },
    ],
    [
      'a lower-case ICD-10-CM prefix',
      { snomedCt: { concepts: {} }, icd10cm: { prefixes: ['g40'] } },
    ],
    ['no ICD-10-CM section', { snomedCt: { concepts: {} } }],
    ['a top-level array', []],
    ['null', null],
    ['concepts as a list', { snomedCt: { concepts: ['84757009'] }, icd10cm: { prefixes: [] } }],
    [
      'an ICD-10-CM code outside chapter G',
      { snomedCt: { concepts: {} }, icd10cm: { prefixes: [], codes: { 'I63.9': 'Stroke' } } },
    ],
    [
      'an ICD-10-CM code without its dot',
      { snomedCt: { concepts: {} }, icd10cm: { prefixes: [], codes: { G40909: 'Epilepsy' } } },
    ],
    [
      'an ICD-10-CM code with a blank title',
      { snomedCt: { concepts: {} }, icd10cm: { prefixes: [], codes: { G35: ' ' } } },
    ],
  ])('rejects a file with %s as INVALID_SHAPE', (_case, content) => {
    const path = writeValueSetFile(content)

    const error = loadError(path)

    expect(error).toBeInstanceOf(ConfigError)
    expect(error.code).toBe('INVALID_SHAPE')
    expect(error.path).toBe(path)
  })

  it('loads the bundled file when no path is given', () => {
    const loaded = NeurologyValueSet.fromFile(undefined)

    expect(loaded.contains({ system: SNOMED_CT, code: '84757009' })).toBe(true)
  })

  it('resolves a relative path against the working directory', () => {
    const path = writeValueSetFile(EPILEPSY_ONLY)

    const loaded = NeurologyValueSet.fromFile(relative(process.cwd(), path))

    expect(loaded.contains({ system: SNOMED_CT, code: '84757009' })).toBe(true)
  })

  it('loads a file that starts with a byte order mark', () => {
    const path = writeRawFile(`\uFEFF${JSON.stringify(EPILEPSY_ONLY)}`)

    const loaded = NeurologyValueSet.fromFile(path)

    expect(loaded.contains({ system: SNOMED_CT, code: '84757009' })).toBe(true)
  })

  it('rejects a missing file as FILE_UNREADABLE', () => {
    const path = join(tempDir, 'missing.json')

    const error = loadError(path)

    expect(error).toBeInstanceOf(ConfigError)
    expect(error.code).toBe('FILE_UNREADABLE')
    expect(error.path).toBe(path)
  })

  it('rejects a directory as FILE_UNREADABLE', () => {
    const path = join(tempDir, 'a-directory.json')
    mkdirSync(path)

    const error = loadError(path)

    expect(error.code).toBe('FILE_UNREADABLE')
  })

  it.each([
    ['text that is not JSON', 'snomedCt: 84757009'],
    ['an empty file', ''],
    ['truncated JSON', '{"snomedCt": {"concepts": {'],
  ])('rejects %s as INVALID_JSON', (_case, text) => {
    const path = writeRawFile(text)

    const error = loadError(path)

    expect(error).toBeInstanceOf(ConfigError)
    expect(error.code).toBe('INVALID_JSON')
    expect(error.path).toBe(path)
  })

  it('rejects a value set without codes as EMPTY', () => {
    const path = writeValueSetFile({ snomedCt: { concepts: {} }, icd10cm: { prefixes: [] } })

    const error = loadError(path)

    expect(error).toBeInstanceOf(ConfigError)
    expect(error.code).toBe('EMPTY')
  })

  it('names the variable and the file in the message', () => {
    const path = join(tempDir, 'missing.json')

    const error = loadError(path)

    expect(error.variable).toBe(VALUE_SET_FILE_VARIABLE)
    expect(error.message).toContain(VALUE_SET_FILE_VARIABLE)
    expect(error.message).toContain(path)
  })
})

describe('NeurologyValueSet.contains', () => {
  it.each([
    ['84757009', 'epilepsy'],
    ['128613002', 'seizure disorder'],
    ['703151001', 'history of single seizure'],
    ['26929004', "Alzheimer's disease"],
    ['230690007', 'stroke'],
    ['124171000119105', 'chronic intractable migraine without aura'],
    ['24700007', 'multiple sclerosis'],
    ['49049000', "Parkinson's disease"],
  ])('contains SNOMED CT %s (%s)', (code) => {
    expect(valueSet.contains({ system: SNOMED_CT, code })).toBe(true)
  })

  it.each([
    ['38341003', 'hypertension'],
    ['444814009', 'viral sinusitis'],
    ['10509002', 'acute bronchitis'],
    ['49436004', 'atrial fibrillation'],
  ])('leaves out SNOMED CT %s (%s)', (code) => {
    expect(valueSet.contains({ system: SNOMED_CT, code })).toBe(false)
  })

  it.each(['G40.909', 'G35', 'G20.A1', 'I63.9', 'I69.351', 'S06.0X0A', 'R56.9', 'g40.909'])(
    'contains ICD-10-CM %s by prefix',
    (code) => {
      expect(valueSet.contains({ system: ICD_10_CM, code })).toBe(true)
    },
  )

  it.each(['J45', 'J45.909', 'I10', 'I48.91', 'E11.9'])('leaves out ICD-10-CM %s', (code) => {
    expect(valueSet.contains({ system: ICD_10_CM, code })).toBe(false)
  })

  it('trims the code', () => {
    expect(valueSet.contains({ system: SNOMED_CT, code: ' 84757009 ' })).toBe(true)
  })

  it.each([
    ['an unknown system', { system: 'http://example.org/codes', code: '84757009' }],
    ['no system', { code: '84757009' }],
    ['the ICD-10 system for a SNOMED CT code', { system: ICD_10_CM, code: '84757009' }],
    ['no code', { system: SNOMED_CT }],
    ['a blank code', { system: SNOMED_CT, code: '  ' }],
  ])('leaves out a coding with %s', (_case, coding) => {
    expect(valueSet.contains(coding)).toBe(false)
  })
})

describe('NeurologyValueSet.containsAny', () => {
  it('finds one neurological coding among others', () => {
    const codings = [
      { system: SNOMED_CT, code: '38341003' },
      { system: ICD_10_CM, code: 'G40.909' },
    ]

    expect(valueSet.containsAny(codings)).toBe(true)
  })

  it('rejects codings that are all outside', () => {
    const codings = [
      { system: SNOMED_CT, code: '38341003' },
      { system: ICD_10_CM, code: 'I10' },
    ]

    expect(valueSet.containsAny(codings)).toBe(false)
  })

  it('rejects undefined', () => {
    expect(valueSet.containsAny(undefined)).toBe(false)
  })
})

describe('NeurologyValueSet on the Synthea bundles', () => {
  const files = readdirSync(SYNTHEA_DIR)
    .filter((file) => file.endsWith('.json'))
    .sort()

  it('reads all seven bundles', () => {
    expect(files).toHaveLength(7)
  })

  it.each([
    ['Alberto_Atencio', true],
    ['Bernardo_Ordóñez', false],
    ['Brett_Gottlieb', true],
    ['Elisha_Schroeder', true],
    ['Eugenia_Schuster', true],
    ['Jacob_Larson', true],
    ['Max_Dicki', true],
  ])('finds a neurological Condition for %s: %s', (name, expected) => {
    // File names may hold the name in NFC or NFD form, depending on the file system.
    const file = files.find((candidate) => candidate.normalize('NFC').startsWith(`${name}_`))

    expect(file).toBeDefined()
    expect(bundleHasNeurologicalCondition(file ?? '')).toBe(expected)
  })
})

describe('NeurologyValueSet chapter G list', () => {
  const BUNDLED_CODES = Object.keys(
    (
      JSON.parse(
        readFileSync(join(import.meta.dirname, '../reference/neurology-value-set.json'), 'utf8'),
      ) as { icd10cm: { codes: Record<string, string> } }
    ).icd10cm.codes,
  )

  it('lists all 68 chapter G categories', () => {
    const categories = BUNDLED_CODES.filter((code) => code.length === 3)

    expect(categories).toHaveLength(68)
    expect(categories[0]).toBe('G00')
    expect(categories.at(-1)).toBe('G99')
  })

  it('writes every code in the FHIR form', () => {
    expect(BUNDLED_CODES.filter((code) => !isValidIcd10CmCode(code))).toEqual([])
  })

  it('lists the parent of every subcode', () => {
    const listed = new Set(BUNDLED_CODES)
    const parentOf = (code: string) => (code.length === 5 ? code.slice(0, 3) : code.slice(0, -1))

    expect(BUNDLED_CODES.filter((code) => code.length > 3 && !listed.has(parentOf(code)))).toEqual(
      [],
    )
  })

  it.each(['G40.909', 'G35', 'G35.D', 'G20', 'G20.C', 'G30.9', 'G43.909', 'G61.0'])(
    'lists %s',
    (code) => {
      expect(valueSet.isUnlistedChapterGCode(code)).toBe(false)
    },
  )

  it.each(['G40.99', 'G38', 'G20.A3', 'G99.9'])('lacks %s', (code) => {
    expect(valueSet.isUnlistedChapterGCode(code)).toBe(true)
  })

  it.each(['I63.9', 'S06.0X0A', 'J45.909'])('ignores %s of another chapter', (code) => {
    expect(valueSet.isUnlistedChapterGCode(code)).toBe(false)
  })

  it('ignores G codes without a list', () => {
    const loaded = NeurologyValueSet.fromFile(writeValueSetFile(EPILEPSY_ONLY))

    expect(loaded.isUnlistedChapterGCode('G40.99')).toBe(false)
  })

  it('enrols by a listed code without a prefix', () => {
    const path = writeValueSetFile({
      snomedCt: { concepts: {} },
      icd10cm: { prefixes: [], codes: { G35: 'Multiple sclerosis' } },
    })

    const loaded = NeurologyValueSet.fromFile(path)

    expect(loaded.contains({ system: ICD_10_CM, code: 'G35' })).toBe(true)
    expect(loaded.contains({ system: ICD_10_CM, code: 'G35.A' })).toBe(false)
  })

  it('lists SNOMED CT concepts, then ICD-10-CM codes, with displays', () => {
    const codes = valueSet.listedCodes()

    expect(codes[0]).toEqual({
      system: SNOMED_CT,
      code: '26929004',
      display: "Alzheimer's disease",
    })
    expect(codes).toContainEqual({ system: SNOMED_CT, code: '84757009', display: 'Epilepsy' })
    expect(codes).toContainEqual({
      system: ICD_10_CM,
      code: 'G40.909',
      display: 'Epilepsy, unspecified, not intractable, without status epilepticus',
    })
    expect(codes.findIndex((code) => code.system === ICD_10_CM)).toBeGreaterThan(
      codes.findLastIndex((code) => code.system === SNOMED_CT),
    )
  })
})
