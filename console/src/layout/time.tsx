/**
 * A time in the reader's locale, with the exact ISO time in the `datetime` attribute for
 * assistive technology and copying. `missing` is shown when there is no time.
 */
export function Time({ iso, missing = 'none' }: { iso: string | null; missing?: string }) {
  if (iso === null) return <span className="muted">{missing}</span>
  return <time dateTime={iso}>{new Date(iso).toLocaleString()}</time>
}
