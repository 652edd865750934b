import { ApiError, describeError } from '../api/client.ts'
import type { SyncState } from './patient-types.ts'

const SYNC_BADGES: Record<SyncState, string> = {
  synced: 'badge ok',
  pending: 'badge',
  conflict: 'badge warn',
  failed: 'badge danger',
}

/** The row's sync state as a badge; the word carries the meaning, the colour only repeats it. */
export function SyncStateBadge({ state }: { state: SyncState }) {
  return <span className={SYNC_BADGES[state]}>{state}</span>
}

/** An API error as an alert, with its code and request id. */
export function ErrorAlert({ title, error }: { title: string; error: unknown }) {
  const fieldErrors = error instanceof ApiError ? error.errors : []
  return (
    <div className="error" role="alert">
      <p className="problem-title">{title}</p>
      <p>{describeError(error)}</p>
      {fieldErrors.length > 0 && (
        <ul>
          {fieldErrors.map((fieldError) => (
            <li key={`${fieldError.path}: ${fieldError.message}`}>
              {fieldError.path === '' ? 'request' : fieldError.path}: {fieldError.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  )
}
