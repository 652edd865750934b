import { describe, expect, it } from 'vitest'
import { isoFromLocalInput, localInputOfIso } from './local-time.ts'

describe('local time inputs', () => {
  it('converts a local input to UTC and back', () => {
    const iso = isoFromLocalInput('2026-03-04T05:06')

    expect(iso).toBe(new Date(2026, 2, 4, 5, 6).toISOString())
    expect(localInputOfIso(iso)).toBe('2026-03-04T05:06')
  })

  it('gives nothing for empty or invalid input', () => {
    expect(isoFromLocalInput('')).toBeUndefined()
    expect(isoFromLocalInput('yesterday')).toBeUndefined()
    expect(localInputOfIso(undefined)).toBe('')
    expect(localInputOfIso('not a time')).toBe('')
  })
})
