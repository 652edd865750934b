import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/client.ts'
import {
  describeResolution,
  explainConflictError,
  fieldMessagesOf,
  groupBulkResults,
  parseJsonInput,
  partLabel,
  summarizeBulkResults,
} from './conflict-messages.ts'
import type { BulkResult } from './conflict-types.ts'

describe('explainConflictError', () => {
  it.each([
    'CONFLICT_NOT_OPEN',
    'CONFLICT_STALE',
    'ENTITY_DELETED',
    'PATIENT_DELETED',
    'CONFLICT_NOT_DISMISSIBLE',
  ])('explains %s', (code) => {
    expect(explainConflictError(new ApiError({ status: 409, code }))).toMatch(/\w+/)
  })

  it('leaves other errors to the generic message', () => {
    expect(explainConflictError(new ApiError({ status: 409, code: 'OTHER' }))).toBeUndefined()
    expect(
      explainConflictError(new ApiError({ status: 400, code: 'CONFLICT_STALE' })),
    ).toBeUndefined()
  })
})

describe('fieldMessagesOf', () => {
  it('reads the path of each field error', () => {
    const error = new ApiError({
      status: 400,
      code: 'VALIDATION_FAILED',
      errors: [{ path: 'value', message: 'Invalid date' }],
    })

    expect(fieldMessagesOf(error)).toEqual([{ path: 'value', message: 'Invalid date' }])
  })

  it('names the body when the path is empty', () => {
    const error = new ApiError({ status: 400, errors: [{ path: '', message: 'Malformed' }] })

    expect(fieldMessagesOf(error)).toEqual([{ path: '(body)', message: 'Malformed' }])
  })
})

describe('parseJsonInput', () => {
  it('parses JSON values, null included', () => {
    expect(parseJsonInput('{"use": "official"}')).toEqual({
      ok: true,
      value: { use: 'official' },
    })
    expect(parseJsonInput('null')).toEqual({ ok: true, value: null })
  })

  it('rejects empty and broken text', () => {
    expect(parseJsonInput('  ').ok).toBe(false)
    const broken = parseJsonInput('{"use": ')
    expect(broken.ok).toBe(false)
    if (!broken.ok) expect(broken.message).toContain('not valid JSON')
  })
})

describe('bulk results', () => {
  const results: BulkResult[] = [
    { id: 'a', outcome: 'resolved' },
    { id: 'b', outcome: 'stale' },
    { id: 'c', outcome: 'resolved' },
    { id: 'd', outcome: 'rejected', code: 'ENTITY_DELETED' },
  ]

  it('groups by outcome in a fixed order', () => {
    expect(groupBulkResults(results).map(([outcome, group]) => [outcome, group.length])).toEqual([
      ['resolved', 2],
      ['stale', 1],
      ['rejected', 1],
    ])
  })

  it('summarizes the counts', () => {
    expect(summarizeBulkResults(results)).toBe('2 resolved, 1 stale, 1 rejected')
    expect(summarizeBulkResults([])).toBe('No conflict was sent')
  })

  it('writes outcomes as words', () => {
    const settled = [
      { id: 'e', outcome: 'not-open' as const, status: 'resolved' as const },
      { id: 'f', outcome: 'not-found' as const },
    ]

    expect(summarizeBulkResults(settled)).toBe('1 not open, 1 not found')
  })
})

describe('describeResolution', () => {
  it('names the merge rule outcomes', () => {
    expect(describeResolution('lww-fhir')).toContain('merge rule')
    expect(describeResolution(null)).toBe('none')
    expect(describeResolution('something-new')).toBe('something-new')
  })
})

describe('partLabel', () => {
  it('adds the item key when there is one', () => {
    expect(partLabel({ field: 'birthDate', itemKey: null })).toBe('birthDate')
    expect(partLabel({ field: 'telecom', itemKey: 'phone|555-0100' })).toBe(
      'telecom (phone|555-0100)',
    )
  })
})
