import { describe, expect, it } from 'vitest'
import { formatAge, formatClockTime, formatDateTime, formatDuration } from './sync-format.ts'

describe('formatAge', () => {
  it.each([
    [0, '0 s'],
    [45, '45 s'],
    [60, '1 min'],
    [125, '2 min 5 s'],
    [3_600, '1 h'],
    [3_725, '1 h 2 min'],
    [3_605, '1 h'],
    [93_784, '1 d 2 h'],
    [59.6, '1 min'],
  ])('writes %s seconds as %s', (seconds, text) => {
    expect(formatAge(seconds)).toBe(text)
  })

  it('reads none when nothing waits', () => {
    expect(formatAge(null)).toBe('none')
  })

  it('treats a negative age from clock skew as zero', () => {
    expect(formatAge(-3)).toBe('0 s')
  })
})

describe('formatDuration', () => {
  it('gives tenths of a second below ten seconds', () => {
    expect(formatDuration('2026-12-05T10:00:00.000Z', '2026-12-05T10:00:01.234Z')).toBe('1.2 s')
  })

  it('gives minutes and seconds for longer runs', () => {
    expect(formatDuration('2026-12-05T10:00:00.000Z', '2026-12-05T10:02:05.000Z')).toBe('2 min 5 s')
  })

  it('is null while the run has not finished', () => {
    expect(formatDuration('2026-12-05T10:00:00.000Z', null)).toBeNull()
  })
})

describe('formatClockTime', () => {
  it('pads hours, minutes and seconds', () => {
    expect(formatClockTime(new Date(2026, 11, 5, 9, 5, 7))).toBe('09:05:07')
  })
})

describe('formatDateTime', () => {
  it('writes the time in the locale', () => {
    const local = new Date(2026, 0, 2, 13, 4, 5)
    expect(formatDateTime(local.toISOString())).toBe(local.toLocaleString())
  })

  it('keeps text that is not a time', () => {
    expect(formatDateTime('soon')).toBe('soon')
  })
})
