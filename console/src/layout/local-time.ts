/**
 * Converts the value of a `datetime-local` input (local time, no zone) to an ISO time in UTC;
 * undefined when empty or invalid.
 */
export function isoFromLocalInput(text: string): string | undefined {
  if (text.trim() === '') return undefined
  const time = new Date(text)
  return Number.isNaN(time.getTime()) ? undefined : time.toISOString()
}

/** Converts an ISO time to the local `YYYY-MM-DDTHH:mm` a `datetime-local` input shows. */
export function localInputOfIso(iso: string | undefined): string {
  if (iso === undefined) return ''
  const time = new Date(iso)
  if (Number.isNaN(time.getTime())) return ''
  const pad = (part: number) => String(part).padStart(2, '0')
  return (
    `${time.getFullYear()}-${pad(time.getMonth() + 1)}-${pad(time.getDate())}` +
    `T${pad(time.getHours())}:${pad(time.getMinutes())}`
  )
}
