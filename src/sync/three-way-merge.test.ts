import { describe, expect, it } from 'vitest'
import { canonicalJson, sameValue } from '../platform/canonical-json.ts'
import { mergeThreeWay } from './three-way-merge.ts'
import type { WriteTimes } from './three-way-merge.ts'

interface Fields extends Record<string, unknown> {
  family: string
  birthDate: string | null
  telecom: { system: string; value: string }[]
}

const BASE: Fields = {
  family: 'Ordóñez',
  birthDate: '1980-05',
  telecom: [{ system: 'phone', value: '555-0100' }],
}

const REGISTRY_WRITE = new Date('2024-03-01T10:00:00.000Z')
const SKEW_MS = 2_000

function timesWithFhirAt(fhirUpdatedAt: Date | null): WriteTimes {
  return { registryUpdatedAt: REGISTRY_WRITE, fhirUpdatedAt, clockSkewMs: SKEW_MS }
}

const FHIR_LATER = timesWithFhirAt(new Date('2024-03-01T10:05:00.000Z'))
const FHIR_EARLIER = timesWithFhirAt(new Date('2024-03-01T09:55:00.000Z'))

describe('canonicalJson', () => {
  it('sorts object keys', () => {
    expect(canonicalJson({ b: 1, a: 2 })).toBe('{"a":2,"b":1}')
  })

  it('sorts keys of nested objects', () => {
    expect(canonicalJson({ outer: { z: 1, y: [{ d: 1, c: 2 }] } })).toBe(
      '{"outer":{"y":[{"c":2,"d":1}],"z":1}}',
    )
  })

  it('keeps array order', () => {
    expect(canonicalJson(['b', 'a'])).toBe('["b","a"]')
  })
})

describe('sameValue', () => {
  it('ignores key order', () => {
    expect(sameValue({ system: 'phone', value: '1' }, { value: '1', system: 'phone' })).toBe(true)
  })

  it('treats undefined and null as equal', () => {
    expect(sameValue(undefined, null)).toBe(true)
  })

  it('tells arrays in another order apart', () => {
    expect(sameValue(['a', 'b'], ['b', 'a'])).toBe(false)
  })

  it('tells different primitives apart', () => {
    expect(sameValue('1980', 1980)).toBe(false)
  })
})

describe('mergeThreeWay', () => {
  it('takes a field only FHIR changed', () => {
    const fhir = { ...BASE, family: 'Ordóñez-Ruiz' }

    const result = mergeThreeWay(BASE, BASE, fhir, FHIR_EARLIER)

    expect(result.merged).toEqual(fhir)
    expect(result.clashes).toEqual([])
    expect(result.registryChanged).toBe(true)
    expect(result.fhirBehind).toBe(false)
  })

  it('keeps a field only the registry changed', () => {
    const registry = { ...BASE, birthDate: '1980-05-17' }

    const result = mergeThreeWay(BASE, registry, BASE, FHIR_LATER)

    expect(result.merged).toEqual(registry)
    expect(result.clashes).toEqual([])
    expect(result.registryChanged).toBe(false)
    expect(result.fhirBehind).toBe(true)
  })

  it('combines fields changed on different sides', () => {
    const registry = { ...BASE, birthDate: '1980-05-17' }
    const fhir = { ...BASE, family: 'Ordóñez-Ruiz' }

    const result = mergeThreeWay(BASE, registry, fhir, FHIR_LATER)

    expect(result.merged).toEqual({ ...BASE, birthDate: '1980-05-17', family: 'Ordóñez-Ruiz' })
    expect(result.clashes).toEqual([])
    expect(result.registryChanged).toBe(true)
    expect(result.fhirBehind).toBe(true)
  })

  it('does nothing when both sides made the same change', () => {
    const registry = { ...BASE, family: 'Ruiz' }
    const fhir = { ...BASE, family: 'Ruiz' }

    const result = mergeThreeWay(BASE, registry, fhir, FHIR_LATER)

    expect(result.merged).toEqual(registry)
    expect(result.clashes).toEqual([])
    expect(result.registryChanged).toBe(false)
    expect(result.fhirBehind).toBe(false)
  })

  it('gives a clash to FHIR when FHIR wrote later', () => {
    const registry = { ...BASE, family: 'Ruiz' }
    const fhir = { ...BASE, family: 'Ortiz' }

    const result = mergeThreeWay(BASE, registry, fhir, FHIR_LATER)

    expect(result.merged.family).toBe('Ortiz')
    expect(result.clashes).toEqual([
      {
        field: 'family',
        base: 'Ordóñez',
        registry: 'Ruiz',
        fhir: 'Ortiz',
        kept: 'fhir',
        resolution: 'lww-fhir',
      },
    ])
    expect(result.registryChanged).toBe(true)
    expect(result.fhirBehind).toBe(false)
  })

  it('gives a clash to the registry when it wrote later', () => {
    const registry = { ...BASE, family: 'Ruiz' }
    const fhir = { ...BASE, family: 'Ortiz' }

    const result = mergeThreeWay(BASE, registry, fhir, FHIR_EARLIER)

    expect(result.merged.family).toBe('Ruiz')
    expect(result.clashes).toEqual([
      {
        field: 'family',
        base: 'Ordóñez',
        registry: 'Ruiz',
        fhir: 'Ortiz',
        kept: 'registry',
        resolution: 'lww-registry',
      },
    ])
    expect(result.registryChanged).toBe(false)
    expect(result.fhirBehind).toBe(true)
  })

  it('gives a clash to the registry when FHIR has no write time', () => {
    const registry = { ...BASE, family: 'Ruiz' }
    const fhir = { ...BASE, family: 'Ortiz' }

    const result = mergeThreeWay(BASE, registry, fhir, timesWithFhirAt(null))

    expect(result.merged.family).toBe('Ruiz')
    expect(result.clashes[0]?.resolution).toBe('lww-registry')
  })

  it.each([
    ['FHIR slightly later', new Date('2024-03-01T10:00:01.500Z')],
    ['FHIR slightly earlier', new Date('2024-03-01T09:59:58.500Z')],
    ['the same instant', REGISTRY_WRITE],
  ])('keeps the registry value inside the skew window (%s)', (_case, fhirUpdatedAt) => {
    const registry = { ...BASE, family: 'Ruiz' }
    const fhir = { ...BASE, family: 'Ortiz' }

    const result = mergeThreeWay(BASE, registry, fhir, timesWithFhirAt(fhirUpdatedAt))

    expect(result.merged.family).toBe('Ruiz')
    expect(result.clashes).toHaveLength(1)
    expect(result.clashes[0]?.kept).toBe('registry')
    expect(result.clashes[0]?.resolution).toBeNull()
    expect(result.registryChanged).toBe(false)
    expect(result.fhirBehind).toBe(true)
  })

  it('orders writes just outside the skew window', () => {
    const registry = { ...BASE, family: 'Ruiz' }
    const fhir = { ...BASE, family: 'Ortiz' }
    const fhirUpdatedAt = new Date(REGISTRY_WRITE.getTime() + SKEW_MS + 1)

    const result = mergeThreeWay(BASE, registry, fhir, timesWithFhirAt(fhirUpdatedAt))

    expect(result.clashes[0]?.resolution).toBe('lww-fhir')
  })

  it('reports one clash per field', () => {
    const registry = { ...BASE, family: 'Ruiz', birthDate: '1981' }
    const fhir = { ...BASE, family: 'Ortiz', birthDate: '1982' }

    const result = mergeThreeWay(BASE, registry, fhir, FHIR_LATER)

    expect(result.clashes.map((clash) => clash.field)).toEqual(['family', 'birthDate'])
    expect(result.merged).toEqual(fhir)
  })

  it('takes every FHIR difference when there is no base', () => {
    const registry = { ...BASE, family: 'Ruiz' }
    const fhir = { ...BASE, family: 'Ortiz' }

    const result = mergeThreeWay(null, registry, fhir, FHIR_EARLIER)

    expect(result.merged.family).toBe('Ortiz')
    expect(result.clashes).toEqual([])
    expect(result.registryChanged).toBe(true)
    expect(result.fhirBehind).toBe(false)
  })

  it('changes nothing without a base when both sides agree', () => {
    const result = mergeThreeWay(null, BASE, { ...BASE }, FHIR_LATER)

    expect(result.merged).toEqual(BASE)
    expect(result.registryChanged).toBe(false)
    expect(result.fhirBehind).toBe(false)
  })

  it('sees no change when only key order differs', () => {
    const reordered: Fields = {
      telecom: [{ value: '555-0100', system: 'phone' }],
      birthDate: '1980-05',
      family: 'Ordóñez',
    }

    const result = mergeThreeWay(BASE, BASE, reordered, FHIR_LATER)

    expect(result.clashes).toEqual([])
    expect(result.registryChanged).toBe(false)
    expect(result.fhirBehind).toBe(false)
  })

  it('takes a field FHIR cleared', () => {
    const fhir = { ...BASE, birthDate: null }

    const result = mergeThreeWay(BASE, BASE, fhir, FHIR_LATER)

    expect(result.merged.birthDate).toBeNull()
    expect(result.registryChanged).toBe(true)
  })

  it('restores registry-owned values after merging', () => {
    const fhir = { ...BASE, family: 'Ortiz' }
    const keepFamily = (registry: Fields, merged: Fields): Fields => ({
      ...merged,
      family: registry.family,
    })

    const result = mergeThreeWay(BASE, BASE, fhir, FHIR_LATER, { keepRegistryOwned: keepFamily })

    expect(result.merged.family).toBe(BASE.family)
    expect(result.registryChanged).toBe(false)
    expect(result.fhirBehind).toBe(true)
  })

  it('leaves its inputs unchanged', () => {
    const registry = { ...BASE, family: 'Ruiz' }
    const fhir = { ...BASE, family: 'Ortiz' }

    mergeThreeWay(BASE, registry, fhir, FHIR_LATER)

    expect(registry.family).toBe('Ruiz')
  })
})
