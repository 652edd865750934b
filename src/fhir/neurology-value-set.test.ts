import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Bundle } from '@medplum/fhirtypes'
import { afterAll, describe, expect, it } from 'vitest'
import { ICD_10_CM, SNOMED_CT } from './constants.ts'
import { NeurologyValueSet } from './neurology-value-set.ts'

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
  const path = join(mkdtempSync(join(tempDir, 'file-')), 'value-set.json')
  writeFileSync(path, JSON.stringify(content))
  return path
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
  ])('rejects a file with %s', (_case, content) => {
    const path = writeValueSetFile(content)

    expect(() => NeurologyValueSet.fromFile(path)).toThrow()
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
