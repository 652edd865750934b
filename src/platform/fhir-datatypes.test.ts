import { describe, expect, it } from 'vitest'
import { periodSchema } from './fhir-datatypes.ts'

describe('periodSchema', () => {
  it('accepts a start before the end', () => {
    expect(periodSchema.safeParse({ start: '2015-03-01', end: '2016' }).success).toBe(true)
  })

  it('accepts dates that overlap at the shared precision', () => {
    expect(periodSchema.safeParse({ start: '2015-06', end: '2015' }).success).toBe(true)
  })

  it('rejects a start after the end', () => {
    expect(periodSchema.safeParse({ start: '2016-01-02', end: '2016-01-01' }).success).toBe(false)
  })

  it('compares times as instants', () => {
    const period = { start: '2016-01-01T10:00:00+02:00', end: '2016-01-01T09:30:00Z' }

    expect(periodSchema.safeParse(period).success).toBe(true)
  })

  it('rejects a later start time', () => {
    const period = { start: '2016-01-01T10:00:00Z', end: '2016-01-01T09:30:00Z' }

    expect(periodSchema.safeParse(period).success).toBe(false)
  })

  it('accepts an open period', () => {
    expect(periodSchema.safeParse({ start: '2016' }).success).toBe(true)
  })
})
