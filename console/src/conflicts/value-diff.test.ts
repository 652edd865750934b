import { describe, expect, it } from 'vitest'
import {
  changeOf,
  compareValues,
  elementKeyOf,
  flattenValue,
  formatCompact,
  formatLeaf,
  formatPath,
} from './value-diff.ts'

describe('compareValues', () => {
  it('marks a scalar changed on one side', () => {
    const rows = compareValues('1970-01-01', '1972-03-03', '1970-01-01')

    expect(rows).toEqual([
      {
        path: [],
        base: '1970-01-01',
        registry: '1972-03-03',
        fhir: '1970-01-01',
        registryChange: 'changed',
        fhirChange: 'same',
        sidesDiffer: true,
      },
    ])
  })

  it('marks a scalar changed on both sides', () => {
    const [row] = compareValues('1970-01-01', '1972-03-03', '1971-02-02')

    expect(row?.registryChange).toBe('changed')
    expect(row?.fhirChange).toBe('changed')
    expect(row?.sidesDiffer).toBe(true)
  })

  it('finds no difference between equal sides', () => {
    const [row] = compareValues('male', 'female', 'female')

    expect(row?.registryChange).toBe('changed')
    expect(row?.sidesDiffer).toBe(false)
  })

  it('compares objects key by key', () => {
    const base = { use: 'official', family: 'Varga', given: ['Ilona'] }
    const registry = { use: 'official', family: 'Vargas', given: ['Ilona'] }
    const fhir = { use: 'official', family: 'Varga', given: ['Ilona', 'Maria'] }
    const rows = compareValues(base, registry, fhir)

    expect(rows.map((row) => formatPath(row.path))).toEqual([
      'use',
      'family',
      'given › #1',
      'given › #2',
    ])
    expect(rows[1]).toMatchObject({
      base: 'Varga',
      registry: 'Vargas',
      fhir: 'Varga',
      registryChange: 'changed',
      fhirChange: 'same',
    })
    expect(rows[3]).toMatchObject({
      base: undefined,
      registry: undefined,
      fhir: 'Maria',
      registryChange: 'same',
      fhirChange: 'added',
      sidesDiffer: true,
    })
  })

  it('matches list elements by their natural key', () => {
    const mobile = { system: 'phone', value: '555-0100', use: 'mobile' }
    const email = { system: 'email', value: 'a@example.org' }
    const added = { system: 'phone', value: '555-0199' }
    const rows = compareValues([mobile, email], [added, mobile, email], [mobile])

    const byPath = new Map(rows.map((row) => [formatPath(row.path), row]))
    expect(byPath.get('phone|555-0100 › use')).toMatchObject({
      registryChange: 'same',
      fhirChange: 'same',
    })
    expect(byPath.get('phone|555-0199 › value')).toMatchObject({
      registry: '555-0199',
      registryChange: 'added',
      fhirChange: 'same',
    })
    expect(byPath.get('email|a@example.org › value')).toMatchObject({
      registryChange: 'same',
      fhirChange: 'removed',
      fhir: undefined,
    })
  })

  it('treats a null part as absent', () => {
    const rows = compareValues(null, { system: 'phone', value: '1' }, null)

    expect(rows).toHaveLength(2)
    expect(rows.every((row) => row.registryChange === 'added')).toBe(true)
    expect(rows.every((row) => row.fhirChange === 'same')).toBe(true)
  })

  it('marks a removed part on one side', () => {
    const [row] = compareValues('female', 'female', null)

    expect(row?.fhirChange).toBe('removed')
    expect(row?.fhir).toBeUndefined()
  })

  it('compares empty lists and objects as leaves', () => {
    const [row] = compareValues([], [], {})

    expect(row?.registryChange).toBe('same')
    expect(row?.fhirChange).toBe('changed')
  })
})

describe('flattenValue', () => {
  it('numbers elements without a distinct key by position', () => {
    const names = [
      { use: 'official', family: 'A' },
      { use: 'official', family: 'B' },
    ]

    expect(flattenValue(names).map((entry) => entry.path)).toEqual([
      ['#1', 'use'],
      ['#1', 'family'],
      ['#2', 'use'],
      ['#2', 'family'],
    ])
  })

  it('keys codings by system', () => {
    const codings = [{ system: 'http://snomed.info/sct', code: '84757009' }]

    expect(flattenValue(codings)[0]?.path).toEqual(['http://snomed.info/sct', 'system'])
  })
})

describe('elementKeyOf', () => {
  it.each([
    [{ system: 's', value: 'v' }, 's|v'],
    [{ use: 'home', line: ['1 Main St'] }, 'home'],
    [{ system: 's', code: 'c' }, 's'],
    [{ family: 'Varga' }, undefined],
    ['Ilona', undefined],
    [null, undefined],
  ])('keys %j as %s', (element, key) => {
    expect(elementKeyOf(element)).toBe(key)
  })
})

describe('changeOf', () => {
  it.each([
    ['a', 'a', 'same'],
    ['a', 'b', 'changed'],
    [undefined, 'b', 'added'],
    ['a', undefined, 'removed'],
    [undefined, undefined, 'same'],
    [1, '1', 'changed'],
  ] as const)('compares %j with %j as %s', (base, side, change) => {
    expect(changeOf(base, side)).toBe(change)
  })
})

describe('formatting', () => {
  it('writes leaves', () => {
    expect(formatLeaf('x')).toBe('x')
    expect(formatLeaf(true)).toBe('true')
    expect(formatLeaf(null)).toBe('null')
    expect(formatLeaf({ empty: 'list' })).toBe('(empty list)')
  })

  it('writes compact values and cuts long ones', () => {
    expect(formatCompact('1980-05', 'absent')).toBe('1980-05')
    expect(formatCompact(null, 'absent')).toBe('absent')
    expect(formatCompact({ use: 'official' }, 'absent')).toBe('{"use":"official"}')
    const long = formatCompact({ family: 'x'.repeat(100) }, 'absent', 20)
    expect(long).toHaveLength(20)
    expect(long.endsWith('…')).toBe(true)
  })
})
