import { Link } from 'react-router'
import { ApiError, describeError } from '../api/client.ts'
import { explainConflictError, fieldMessagesOf } from './conflict-messages.ts'
import type { ConflictEntityType, ConflictStatus } from './conflict-types.ts'

const STATUS_BADGES: Record<ConflictStatus, string> = {
  open: 'badge warn',
  resolved: 'badge ok',
  dismissed: 'badge',
}

/** The conflict's status as a badge; the word itself carries the meaning, not the colour. */
export function StatusBadge({ status }: { status: ConflictStatus }) {
  return <span className={STATUS_BADGES[status]}>{status}</span>
}

/** A patient links to its console page; a condition has none, so its id is shown. */
export function EntityReference({ type, id }: { type: ConflictEntityType; id: string }) {
  if (type === 'patient') {
    return (
      <>
        patient <Link to={`/patients/${id}`}>{id}</Link>
      </>
    )
  }
  return (
    <>
      condition <code>{id}</code>
    </>
  )
}

/**
 * An API error as an alert: the sentence for a known conflict code, then the API's detail, code
 * and request id, then each invalid field of a 400.
 */
export function ProblemAlert({ error, title }: { error: unknown; title?: string }) {
  const explanation = error instanceof ApiError ? explainConflictError(error) : undefined
  const fields = error instanceof ApiError ? fieldMessagesOf(error) : []
  return (
    <div className="error" role="alert">
      {title !== undefined && <p className="problem-title">{title}</p>}
      {explanation !== undefined && <p className="problem-explanation">{explanation}</p>}
      <p>{describeError(error)}</p>
      {fields.length > 0 && (
        <ul aria-label="Invalid fields">
          {fields.map((field) => (
            <li key={`${field.path}:${field.message}`}>
              <code>{field.path}</code>: {field.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  )
}
