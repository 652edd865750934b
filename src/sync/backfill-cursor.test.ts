import type { Patient as FhirPatient } from '@medplum/fhirtypes'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  advanceFhirCursor,
  advanceRegistryCursor,
  patientPageOf,
  patientPageSearch,
  type FhirCursor,
} from './backfill-cursor.ts'

const T1 = '2026-01-01T10:00:00.100+00:00'
const T2 = '2026-01-01T10:00:00.200+00:00'

function patient(id: string, lastUpdated: string): FhirPatient {
  return { resourceType: 'Patient', id, meta: { lastUpdated } }
}

/**
 * Runs a Patient search as HAPI does for the parameters the backfill sends: sorted by
 * lastUpdated and then id, with `_lastUpdated=ge`, `_offset` and `_count`.
 */
function searchModel(store: readonly FhirPatient[], params: Record<string, string>): FhirPatient[] {
  const since = params._lastUpdated?.replace(/^ge/, '')
  const sorted = store
    .filter(
      (item) =>
        since === undefined || Date.parse(item.meta?.lastUpdated ?? '') >= Date.parse(since),
    )
    .sort(
      (a, b) =>
        Date.parse(a.meta?.lastUpdated ?? '') - Date.parse(b.meta?.lastUpdated ?? '') ||
        (a.id ?? '').localeCompare(b.id ?? ''),
    )
  const offset = Number(params._offset ?? '0')
  return sorted.slice(offset, offset + Number(params._count))
}

/**
 * Runs the from-fhir paging against the model and returns the ids in the order they were
 * applied. `beforePage` may change the store between pages, as HAPI writes would.
 */
function pageThrough(
  store: FhirPatient[],
  pageSize: number,
  beforePage: (page: number, store: FhirPatient[]) => void = () => undefined,
): string[] {
  const applied: string[] = []
  let cursor: FhirCursor | null = null
  for (let page = 0; page < 10_000; page++) {
    beforePage(page, store)
    const result = patientPageOf(cursor, searchModel(store, patientPageSearch(cursor, pageSize)))
    if (result.kind === 'shifted') {
      cursor = result.cursor
      continue
    }
    if (result.patients.length === 0) return applied
    applied.push(...result.patients.map((item) => item.id ?? ''))
    cursor = advanceFhirCursor(cursor, result.patients)
  }
  throw new Error('Paging did not end')
}

describe('patientPageSearch', () => {
  it('sorts by lastUpdated and id from the start', () => {
    expect(patientPageSearch(null, 50, { _tag: 'a|b' })).toEqual({
      _tag: 'a|b',
      _sort: '_lastUpdated,_id',
      _count: '50',
    })
  })

  it('reads again from the last Patient done', () => {
    const params = patientPageSearch({ lastUpdated: T1, id: 'p3', doneAtInstant: 3 }, 50)

    expect(params._lastUpdated).toBe(`ge${T1}`)
    expect(params._offset).toBe('2')
    expect(params._count).toBe('51')
  })

  it('reads an instant from its start without an offset', () => {
    const params = patientPageSearch({ lastUpdated: T1, id: '', doneAtInstant: 0 }, 50)

    expect(params._offset).toBeUndefined()
    expect(params._count).toBe('50')
  })
})

describe('patientPageOf', () => {
  it('drops the last Patient done from the front', () => {
    const cursor = { lastUpdated: T1, id: 'p1', doneAtInstant: 1 }

    const page = patientPageOf(cursor, [patient('p1', T1), patient('p2', T1)])

    expect(page).toEqual({ kind: 'patients', patients: [patient('p2', T1)] })
  })

  it('reads the instant again when the boundary Patient moved', () => {
    const cursor = { lastUpdated: T1, id: 'p1', doneAtInstant: 1 }

    const page = patientPageOf(cursor, [patient('p2', T1)])

    expect(page).toEqual({
      kind: 'shifted',
      cursor: { lastUpdated: T1, id: '', doneAtInstant: 0 },
    })
  })

  it('returns an empty page at the end', () => {
    const cursor = { lastUpdated: T1, id: 'p1', doneAtInstant: 1 }

    expect(patientPageOf(cursor, [patient('p1', T1)])).toEqual({ kind: 'patients', patients: [] })
  })
})

describe('advanceFhirCursor', () => {
  it('counts the Patients done at the last instant', () => {
    const cursor = advanceFhirCursor(null, [patient('a', T1), patient('b', T2), patient('c', T2)])

    expect(cursor).toEqual({ lastUpdated: T2, id: 'c', doneAtInstant: 2 })
  })

  it('adds to the count of an instant that spans pages', () => {
    const before = { lastUpdated: T1, id: 'b', doneAtInstant: 2 }

    const cursor = advanceFhirCursor(before, [patient('c', T1), patient('d', T1)])

    expect(cursor).toEqual({ lastUpdated: T1, id: 'd', doneAtInstant: 4 })
  })

  it('compares instants, not their text', () => {
    const before = { lastUpdated: '2026-01-01T10:00:00.100Z', id: 'b', doneAtInstant: 2 }

    const cursor = advanceFhirCursor(before, [patient('c', T1)])

    expect(cursor?.doneAtInstant).toBe(3)
  })

  it('rejects a Patient without lastUpdated', () => {
    expect(() => advanceFhirCursor(null, [{ resourceType: 'Patient', id: 'x' }])).toThrow(
      'Patient/x has no valid meta.lastUpdated',
    )
  })
})

describe('advanceRegistryCursor', () => {
  it('moves past the last id of a page', () => {
    expect(advanceRegistryCursor({ entityType: 'patient', afterId: null }, ['a', 'b'])).toEqual({
      entityType: 'patient',
      afterId: 'b',
    })
  })

  it('goes from patients to conditions, then ends', () => {
    const conditions = advanceRegistryCursor({ entityType: 'patient', afterId: 'b' }, [])

    expect(conditions).toEqual({ entityType: 'condition', afterId: null })
    expect(advanceRegistryCursor({ entityType: 'condition', afterId: 'x' }, [])).toBe('done')
  })
})

describe('from-fhir paging', () => {
  const storeArbitrary = fc
    .array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.uuid()), { maxLength: 120 })
    .map((items) => {
      const unique = new Map(items.map(([instant, id]) => [id, instant]))
      return [...unique].map(([id, instant]) =>
        patient(id, new Date(Date.UTC(2026, 0, 1, 0, 0, 0, instant)).toISOString()),
      )
    })

  it('applies every Patient once, whatever the page size and ties', () => {
    fc.assert(
      fc.property(storeArbitrary, fc.integer({ min: 1, max: 20 }), (store, pageSize) => {
        const applied = pageThrough(store, pageSize)

        expect(applied).toHaveLength(store.length)
        expect(new Set(applied)).toEqual(new Set(store.map((item) => item.id)))
      }),
    )
  })

  it('misses no Patient when a done one moves on', () => {
    fc.assert(
      fc.property(storeArbitrary, fc.integer({ min: 1, max: 20 }), (store, pageSize) => {
        const ids = new Set(store.map((item) => item.id))
        // After the first page, the first Patient in order is updated: it leaves its instant
        // for a later one, as a hospital edit during the backfill would.
        const applied = pageThrough(store, pageSize, (page, current) => {
          if (page !== 1) return
          const first = searchModel(current, { _count: '1' })[0]
          if (first?.meta) first.meta = { lastUpdated: '2026-01-01T00:00:01.000Z' }
        })

        expect(new Set(applied)).toEqual(ids)
      }),
    )
  })

  it('pages through an instant larger than a page', () => {
    const store = Array.from({ length: 25 }, (_, index) =>
      patient(`p${String(index).padStart(2, '0')}`, T1),
    )

    const applied = pageThrough(store, 4)

    expect(applied).toEqual(store.map((item) => item.id))
  })
})
