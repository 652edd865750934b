import { Link } from 'react-router'
import { useSession } from '../auth/session.tsx'
import { ActorName, useUserNames } from '../layout/user-names.tsx'
import { Time } from '../layout/time.tsx'
import { changedFields, formatAuditValue, sourceLabel } from './audit-format.ts'
import type { AuditLogEntry } from './audit-types.ts'
import './audit.css'

/** The fields an entry changed, each as before → after, inside an expandable block. */
function AuditChanges({ entry }: { entry: AuditLogEntry }) {
  const changes = changedFields(entry.before, entry.after)
  if (changes.length === 0) return <span className="muted">no field changed</span>
  return (
    <details className="audit-changes">
      <summary>
        {changes.length === 1 ? '1 field' : `${String(changes.length)} fields`}:{' '}
        {changes.map((change) => change.field).join(', ')}
      </summary>
      <dl>
        {changes.map((change) => (
          <div key={change.field} className="audit-change">
            <dt>{change.field}</dt>
            <dd>
              <del className="diff">
                <span className="visually-hidden">before: </span>
                {formatAuditValue(change.before)}
              </del>{' '}
              <span aria-hidden="true">→</span>{' '}
              <ins className="diff">
                <span className="visually-hidden">after: </span>
                {formatAuditValue(change.after)}
              </ins>
            </dd>
          </div>
        ))}
      </dl>
    </details>
  )
}

// A patient links to its page for those who may open it, and to its own audit trail in the log
// for an auditor without the clinician or steward role.
function EntityCell({ entry }: { entry: AuditLogEntry }) {
  const { hasRole } = useSession()
  if (entry.entityType === 'patient') {
    const target = hasRole('clinician', 'steward')
      ? `/patients/${entry.entityId}`
      : `/audit?entityType=patient&entityId=${entry.entityId}`
    return (
      <>
        patient <Link to={target}>{entry.entityId}</Link>
      </>
    )
  }
  return (
    <>
      {entry.entityType} <code>{entry.entityId}</code>
    </>
  )
}

/**
 * Audit entries as a table, newest first as the API returns them. `showEntity` adds a column
 * naming each entry's entity, for the log of every entity.
 */
export function AuditTable({
  caption,
  entries,
  showEntity,
}: {
  caption: string
  entries: AuditLogEntry[]
  showEntity: boolean
}) {
  const { hasRole } = useSession()
  const userNames = useUserNames(entries.map((entry) => entry.actor))
  return (
    <div className="audit-scroll">
      <table className="audit-table">
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Action</th>
            {showEntity && <th scope="col">Entity</th>}
            <th scope="col">Source</th>
            <th scope="col">Actor</th>
            <th scope="col">Request and conflict</th>
            <th scope="col">Changed fields</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((entry) => (
            <tr key={entry.id} data-audit-id={entry.id}>
              <th scope="row">
                <Time iso={entry.occurredAt} />
              </th>
              <td>{entry.action}</td>
              {showEntity && (
                <td>
                  <EntityCell entry={entry} />
                </td>
              )}
              <td>{sourceLabel(entry.source)}</td>
              <td>
                <ActorName actor={entry.actor} names={userNames} />
              </td>
              <td>
                {entry.requestId === null ? (
                  <span className="muted">no request id</span>
                ) : (
                  <>
                    request <code>{entry.requestId}</code>
                  </>
                )}
                {entry.conflictId !== null && (
                  <>
                    <br />
                    conflict{' '}
                    {hasRole('steward') ? (
                      <Link to={`/conflicts/${entry.conflictId}`}>{entry.conflictId}</Link>
                    ) : (
                      <code>{entry.conflictId}</code>
                    )}
                  </>
                )}
              </td>
              <td>
                <AuditChanges entry={entry} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
