import type { Bundle } from '@medplum/fhirtypes'
import { describe, expect, it } from 'vitest'
import {
  UNKNOWN_RESOURCE,
  alreadySeen,
  dropRepeats,
  historyChanges,
  serverTimeOf,
  type HistoryChange,
} from './drift-history.ts'

// Shaped as HAPI 8.8 returns `GET Patient/_history`: a version with its resource, a deletion
// with only request and response.
const PAGE: Bundle = {
  resourceType: 'Bundle',
  type: 'history',
  meta: { lastUpdated: '2026-12-04T20:26:18.342+00:00' },
  entry: [
    {
      fullUrl: 'http://127.0.0.1:8080/fhir/Patient/p1',
      resource: { resourceType: 'Patient', id: 'p1', meta: { versionId: '2' } },
      request: { method: 'PUT', url: 'Patient/p1/_history/2' },
      response: { status: '200 OK', etag: 'W/"2"' },
    },
    {
      fullUrl: 'http://127.0.0.1:8080/fhir/Patient/p2',
      request: { method: 'DELETE', url: 'Patient/p2/_history/3' },
      response: { status: '200 OK', etag: 'W/"3"' },
    },
  ],
}

function change(fields: Partial<HistoryChange> = {}): HistoryChange {
  return {
    resourceType: 'Patient',
    resourceId: 'p1',
    versionId: 2,
    deleted: false,
    resource: null,
    ...fields,
  }
}

describe('historyChanges', () => {
  it('reads versions and deletions', () => {
    const { changes, unreadable } = historyChanges(PAGE)

    expect(unreadable).toBe(0)
    expect(changes).toEqual([
      {
        resourceType: 'Patient',
        resourceId: 'p1',
        versionId: 2,
        deleted: false,
        resource: { resourceType: 'Patient', id: 'p1', meta: { versionId: '2' } },
      },
      { resourceType: 'Patient', resourceId: 'p2', versionId: 3, deleted: true, resource: null },
    ])
  })

  it('takes the version of a deletion from the ETag', () => {
    const page: Bundle = {
      resourceType: 'Bundle',
      type: 'history',
      entry: [
        {
          request: { method: 'DELETE', url: 'Condition/c9' },
          response: { status: '200 OK', etag: 'W/"5"' },
        },
      ],
    }

    expect(historyChanges(page)).toEqual({
      changes: [
        {
          resourceType: 'Condition',
          resourceId: 'c9',
          versionId: 5,
          deleted: true,
          resource: null,
        },
      ],
      unreadable: 0,
    })
  })

  it('reads an absolute request URL', () => {
    const page: Bundle = {
      resourceType: 'Bundle',
      type: 'history',
      entry: [
        {
          request: { method: 'DELETE', url: 'http://example.org/fhir/Condition/c9/_history/5' },
        },
      ],
    }

    expect(historyChanges(page).changes).toMatchObject([
      { resourceType: 'Condition', resourceId: 'c9', versionId: 5, deleted: true },
    ])
  })

  it('counts an entry without a version as unreadable', () => {
    const page: Bundle = {
      resourceType: 'Bundle',
      type: 'history',
      entry: [
        { resource: { resourceType: 'Patient', id: 'p1' } },
        { request: { method: 'DELETE', url: 'Patient' } },
      ],
    }

    expect(historyChanges(page)).toEqual({ changes: [], unreadable: 2 })
  })
})

describe('dropRepeats', () => {
  it('keeps the first sighting of a version', () => {
    const seen = new Set<string>()

    const first = dropRepeats([change(), change({ versionId: 3 })], seen)
    const second = dropRepeats([change({ versionId: 3 }), change({ versionId: 4 })], seen)

    expect(first.map((item) => item.versionId)).toEqual([2, 3])
    expect(second.map((item) => item.versionId)).toEqual([4])
  })

  it('tells resource types apart', () => {
    const seen = new Set<string>()

    const fresh = dropRepeats([change(), change({ resourceType: 'Condition' })], seen)

    expect(fresh).toHaveLength(2)
  })
})

describe('alreadySeen', () => {
  it('skips a version the row recorded', () => {
    expect(alreadySeen(change(), { ...UNKNOWN_RESOURCE, rowVersionId: 2 })).toBe(true)
    expect(alreadySeen(change(), { ...UNKNOWN_RESOURCE, rowVersionId: 5 })).toBe(true)
  })

  it('takes a newer version than the row recorded', () => {
    expect(alreadySeen(change({ versionId: 3 }), { ...UNKNOWN_RESOURCE, rowVersionId: 2 })).toBe(
      false,
    )
  })

  it('takes a change of a resource the registry does not know', () => {
    expect(alreadySeen(change(), UNKNOWN_RESOURCE)).toBe(false)
  })

  it('skips a version that a notification already brought', () => {
    expect(alreadySeen(change(), { ...UNKNOWN_RESOURCE, notifiedVersionId: 2 })).toBe(true)
    expect(alreadySeen(change(), { ...UNKNOWN_RESOURCE, notifiedDeleteVersionId: 2 })).toBe(false)
  })

  it('takes a row that never recorded a version', () => {
    expect(alreadySeen(change({ versionId: 1 }), { ...UNKNOWN_RESOURCE, rowVersionId: null })).toBe(
      false,
    )
  })

  it('takes the deletion of a live row', () => {
    const deletion = change({ versionId: 3, deleted: true })

    expect(alreadySeen(deletion, { ...UNKNOWN_RESOURCE, rowVersionId: 2 })).toBe(false)
  })

  it('skips a deletion the registry has or never needed', () => {
    const deletion = change({ versionId: 3, deleted: true })

    expect(alreadySeen(deletion, UNKNOWN_RESOURCE)).toBe(true)
    expect(alreadySeen(deletion, { ...UNKNOWN_RESOURCE, rowVersionId: 2, rowDeleted: true })).toBe(
      true,
    )
    expect(
      alreadySeen(deletion, { ...UNKNOWN_RESOURCE, rowVersionId: 2, notifiedDeleteVersionId: 3 }),
    ).toBe(true)
    expect(
      alreadySeen(deletion, { ...UNKNOWN_RESOURCE, rowVersionId: 2, notifiedVersionId: 3 }),
    ).toBe(false)
  })
})

describe('serverTimeOf', () => {
  it('reads meta.lastUpdated', () => {
    expect(serverTimeOf(PAGE)?.toISOString()).toBe('2026-12-04T20:26:18.342Z')
  })

  it('returns null without a usable time', () => {
    expect(serverTimeOf({ resourceType: 'Bundle', type: 'history' })).toBeNull()
    expect(
      serverTimeOf({ resourceType: 'Bundle', type: 'history', meta: { lastUpdated: 'soon' } }),
    ).toBeNull()
  })
})
