const MINUTE_S = 60
const HOUR_S = 60 * MINUTE_S
const DAY_S = 24 * HOUR_S

/**
 * Formats a number of seconds for people, with the two largest units that are not zero: `45 s`,
 * `2 min 5 s`, `3 h 10 min`, `2 d 4 h`. Null, for nothing waiting, becomes `none`.
 */
export function formatAge(seconds: number | null): string {
  if (seconds === null) return 'none'
  const whole = Math.max(0, Math.round(seconds))
  const parts: [number, string][] = [
    [Math.floor(whole / DAY_S), 'd'],
    [Math.floor((whole % DAY_S) / HOUR_S), 'h'],
    [Math.floor((whole % HOUR_S) / MINUTE_S), 'min'],
    [whole % MINUTE_S, 's'],
  ]
  const first = parts.findIndex(([value]) => value > 0)
  if (first === -1) return '0 s'
  return parts
    .slice(first, first + 2)
    .filter(([value]) => value > 0)
    .map(([value, unit]) => `${value} ${unit}`)
    .join(' ')
}

/**
 * Formats the time between two ISO times: tenths of a second below ten seconds, where a drift run
 * usually ends, and `formatAge` above. Null while it has not finished.
 */
export function formatDuration(startIso: string | null, endIso: string | null): string | null {
  if (startIso === null || endIso === null) return null
  const ms = Date.parse(endIso) - Date.parse(startIso)
  if (Number.isNaN(ms)) return null
  if (ms < 10_000) return `${(Math.max(0, ms) / 1000).toFixed(1)} s`
  return formatAge(ms / 1000)
}

function pad(value: number): string {
  return String(value).padStart(2, '0')
}

/** Formats the local time of day as `hh:mm:ss`, 24-hour. */
export function formatClockTime(date: Date): string {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
}

/**
 * Formats an ISO time in the reader's locale, as the other pages do, or returns the text when it
 * does not parse.
 */
export function formatDateTime(iso: string): string {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString()
}
