import { describe, expect, it } from 'vitest'
import {
  FINDING_KINDS,
  chunkIds,
  classifyRow,
  differingFields,
  fhirSideView,
  registryKeptFields,
  repairFor,
  type FhirSnapshot,
  type RowSnapshot,
} from './drift-classification.ts'

const NOW = new Date('2026-12-04T12:00:00Z')
const STALLED_AFTER_MS = 15 * 60 * 1000
const LONG_AGO = new Date('2026-12-04T11:00:00Z')
const JUST_NOW = new Date('2026-12-04T11:59:00Z')

function row(fields: Partial<RowSnapshot> = {}): RowSnapshot {
  return {
    deleted: false,
    fhirVersionId: 3,
    syncState: 'synced',
    updatedAt: LONG_AGO,
    ...fields,
  }
}

const AT_3: FhirSnapshot = { status: 'found', versionId: 3 }

function classify(snapshot: RowSnapshot, fhir: FhirSnapshot, fields: string[] = []) {
  return classifyRow(snapshot, fhir, fields, NOW, STALLED_AFTER_MS)?.kind ?? null
}

describe('classifyRow', () => {
  it('finds nothing when both sides agree', () => {
    expect(classify(row(), AT_3)).toBeNull()
    expect(classify(row({ deleted: true }), { status: 'deleted' })).toBeNull()
  })

  it('accepts a deleted row never written to FHIR', () => {
    const neverWritten = row({ deleted: true, fhirVersionId: null })

    expect(classify(neverWritten, { status: 'missing' })).toBeNull()
    expect(classify({ ...neverWritten, syncState: 'pending' }, { status: 'missing' })).toBe(
      'stalled-push',
    )
  })

  it('finds a newer FHIR version', () => {
    expect(classify(row(), { status: 'found', versionId: 4 })).toBe('missed-change')
  })

  it('finds an older FHIR version', () => {
    expect(classify(row(), { status: 'found', versionId: 2 })).toBe('older-in-fhir')
  })

  it('finds fields that differ at the same version', () => {
    const finding = classifyRow(row(), AT_3, ['gender', 'names'], NOW, STALLED_AFTER_MS)

    expect(finding).toEqual({ kind: 'diverged', fields: ['gender', 'names'] })
  })

  it('finds a live row whose resource is gone', () => {
    expect(classify(row(), { status: 'deleted' })).toBe('deleted-in-fhir')
    expect(classify(row(), { status: 'missing' })).toBe('deleted-in-fhir')
  })

  it('finds a deleted row whose resource still exists', () => {
    expect(classify(row({ deleted: true }), AT_3)).toBe('deleted-in-registry')
  })

  it('finds a row never written to FHIR', () => {
    expect(classify(row({ fhirVersionId: null }), { status: 'missing' })).toBe('unsynced')
    expect(classify(row({ fhirVersionId: null }), { status: 'found', versionId: 1 })).toBe(
      'unsynced',
    )
  })

  it('leaves a recent pending row to its push', () => {
    const pending = row({ syncState: 'pending', updatedAt: JUST_NOW })

    expect(classify(pending, AT_3, ['gender'])).toBeNull()
    expect(classify({ ...pending, fhirVersionId: null }, { status: 'missing' })).toBeNull()
    expect(classify(pending, { status: 'found', versionId: 4 })).toBeNull()
  })

  it('finds a push that is overdue', () => {
    expect(classify(row({ syncState: 'pending' }), AT_3)).toBe('stalled-push')
    expect(classify(row({ syncState: 'pending', deleted: true }), { status: 'deleted' })).toBe(
      'stalled-push',
    )
  })

  it('reports differing fields before an overdue push', () => {
    expect(classify(row({ syncState: 'pending' }), AT_3, ['gender'])).toBe('diverged')
  })

  it('leaves a failed row to the replay', () => {
    expect(classify(row({ syncState: 'failed' }), AT_3, ['gender'])).toBeNull()
    expect(
      classify(row({ syncState: 'failed', fhirVersionId: null }), { status: 'missing' }),
    ).toBeNull()
  })

  it('checks only versions and deletes of a row in conflict', () => {
    const inConflict = row({ syncState: 'conflict' })

    expect(classify(inConflict, AT_3, ['gender'])).toBeNull()
    expect(classify({ ...inConflict, deleted: true }, AT_3)).toBeNull()
    expect(classify(inConflict, { status: 'found', versionId: 5 })).toBe('missed-change')
    expect(classify(inConflict, { status: 'deleted' })).toBe('deleted-in-fhir')
  })
})

describe('repairFor', () => {
  it('merges FHIR changes and pushes registry changes both ways', () => {
    expect(repairFor('missed-change', 'two-way')).toBe('merge')
    expect(repairFor('deleted-in-fhir', 'two-way')).toBe('merge-delete')
    expect(repairFor('diverged', 'two-way')).toBe('push')
    expect(repairFor('unsynced', 'two-way')).toBe('push')
    expect(repairFor('stalled-push', 'two-way')).toBe('push')
    expect(repairFor('deleted-in-registry', 'two-way')).toBe('push')
    expect(repairFor('older-in-fhir', 'two-way')).toBe('none')
  })

  it('only pushes a type that flows to FHIR', () => {
    for (const kind of FINDING_KINDS) {
      expect(['push', 'none']).toContain(repairFor(kind, 'to-fhir'))
    }
    expect(repairFor('missed-change', 'to-fhir')).toBe('push')
    expect(repairFor('deleted-in-fhir', 'to-fhir')).toBe('push')
  })

  it('never pushes a type that flows from FHIR', () => {
    for (const kind of FINDING_KINDS) {
      expect(repairFor(kind, 'from-fhir')).not.toBe('push')
    }
    expect(repairFor('diverged', 'from-fhir')).toBe('take-fhir')
    expect(repairFor('missed-change', 'from-fhir')).toBe('merge')
    expect(repairFor('unsynced', 'from-fhir')).toBe('none')
  })
})

describe('registryKeptFields', () => {
  const rules = { gender: 'lww', registryIdentifier: 'registry', identifiers: 'fhir' } as const

  it('keeps registry-owned fields of a type that flows from FHIR', () => {
    expect([...registryKeptFields(rules, 'from-fhir')]).toEqual(['registryIdentifier'])
  })

  it('keeps nothing for a type that is pushed', () => {
    expect(registryKeptFields(rules, 'two-way').size).toBe(0)
    expect(registryKeptFields(rules, 'to-fhir').size).toBe(0)
  })
})

describe('differingFields', () => {
  const registry = {
    gender: 'male',
    names: [{ family: 'A' }],
    registryIdentifier: [{ value: '1' }],
  }

  it('names each field that differs', () => {
    const fhir = { gender: 'female', names: [{ family: 'B' }], registryIdentifier: [] }

    expect(differingFields(registry, fhir, new Set())).toEqual([
      'gender',
      'names',
      'registryIdentifier',
    ])
  })

  it('compares values, not key order or missing against null', () => {
    const fhir = { names: [{ family: 'A' }], gender: 'male', registryIdentifier: [{ value: '1' }] }

    expect(differingFields({ ...registry, deceased: null }, fhir, new Set())).toEqual([])
  })

  it('leaves out kept fields', () => {
    const fhir = { ...registry, registryIdentifier: [] }

    expect(differingFields(registry, fhir, new Set(['registryIdentifier']))).toEqual([])
  })
})

describe('fhirSideView', () => {
  it("takes FHIR's values but the kept ones", () => {
    const registry = { gender: 'male', registryIdentifier: [{ value: '1' }] }
    const fhir = { gender: 'female', registryIdentifier: [] }

    expect(fhirSideView(registry, fhir, new Set(['registryIdentifier']))).toEqual({
      gender: 'female',
      registryIdentifier: [{ value: '1' }],
    })
  })
})

describe('chunkIds', () => {
  it('keeps each joined list within the limit', () => {
    const ids = ['aaaa', 'bbbb', 'cccc', 'dddd', 'eeee']

    const chunks = chunkIds(ids, 14)

    expect(chunks).toEqual([
      ['aaaa', 'bbbb', 'cccc'],
      ['dddd', 'eeee'],
    ])
    for (const chunk of chunks) expect(chunk.join(',').length).toBeLessThanOrEqual(14)
  })

  it('puts an id longer than the limit in a group of its own', () => {
    expect(chunkIds(['a', 'much-too-long', 'b'], 4)).toEqual([['a'], ['much-too-long'], ['b']])
  })

  it('returns no groups for no ids', () => {
    expect(chunkIds([], 100)).toEqual([])
  })
})
