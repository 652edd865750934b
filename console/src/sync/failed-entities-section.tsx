import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useId, useState } from 'react'
import { Link } from 'react-router'
import { ApiError, describeError } from '../api/client.ts'
import { useApi } from '../auth/session.tsx'
import { OutcomeMessage, type ActionOutcome } from './action-outcome.tsx'
import { Pager, useCursorStack } from '../layout/cursor-pager.tsx'
import {
  SYNC_KEYS,
  fetchFailed,
  replayAllFailed,
  replayFailed,
  type EntityType,
  type FailedEntity,
} from './sync-api.ts'
import { formatDateTime } from './sync-format.ts'

const PAGE_SIZE = 20

function describeReplayError(error: unknown, row: FailedEntity): string {
  if (error instanceof ApiError && error.code === 'ENTITY_NOT_FAILED') {
    return (
      `The ${row.entityType} ${row.id} is no longer failed, so someone replayed or edited it ` +
      `already. The table now shows the current list. Details: ${describeError(error)}`
    )
  }
  return `The replay of ${row.entityType} ${row.id} failed: ${describeError(error)}`
}

function EntityIdCell({ row }: { row: FailedEntity }) {
  if (row.entityType === 'patient') {
    return (
      <Link to={`/patients/${row.id}`}>
        <code>{row.id}</code>
      </Link>
    )
  }
  return <code>{row.id}</code>
}

/**
 * Rows whose push failed for good, in pages, with a Replay button each and one for all of them.
 * The list refreshes with the rest of the dashboard, so a row replayed elsewhere disappears.
 */
export function FailedEntitiesSection({ refetchInterval }: { refetchInterval: number | false }) {
  const api = useApi()
  const queryClient = useQueryClient()
  const filterId = useId()
  const [entityType, setEntityType] = useState<EntityType | ''>('')
  const pages = useCursorStack()
  const [outcome, setOutcome] = useState<ActionOutcome>(null)
  const dismiss = () => {
    setOutcome(null)
  }

  const failed = useQuery({
    queryKey: SYNC_KEYS.failed(entityType, pages.cursor),
    queryFn: () => fetchFailed(api, entityType, pages.cursor, PAGE_SIZE),
    refetchInterval,
  })

  const refresh = () => queryClient.invalidateQueries({ queryKey: SYNC_KEYS.all })

  const replayOne = useMutation({
    mutationFn: (row: FailedEntity) => replayFailed(api, row.entityType, row.id),
    onMutate: () => {
      setOutcome(null)
    },
    onSuccess: (_result, row) => {
      setOutcome({
        kind: 'success',
        text: `Replay queued for ${row.entityType} ${row.id}: it is pending again with a fresh set of tries.`,
      })
    },
    onError: (error, row) => {
      setOutcome({ kind: 'error', text: describeReplayError(error, row) })
    },
    onSettled: refresh,
  })

  const replayAll = useMutation({
    mutationFn: () => replayAllFailed(api, entityType),
    onMutate: () => {
      setOutcome(null)
    },
    onSuccess: ({ replayed }) => {
      const rowsLabel = entityType === '' ? 'failed rows' : `failed ${entityType} rows`
      setOutcome({ kind: 'success', text: `Replay queued for ${replayed} ${rowsLabel}.` })
      pages.reset()
    },
    onError: (error) => {
      setOutcome({
        kind: 'error',
        text: `The replay of all failed rows failed: ${describeError(error)}`,
      })
    },
    onSettled: refresh,
  })

  const busy = replayOne.isPending || replayAll.isPending
  const items = failed.data?.items ?? []
  const replayAllLabel =
    entityType === '' ? 'Replay all failed' : `Replay all failed ${entityType}s`

  return (
    <section aria-labelledby="sync-failed-heading">
      <h2 id="sync-failed-heading">Failed entities</h2>
      <div className="filters">
        <label htmlFor={filterId}>
          Entity type
          <select
            id={filterId}
            value={entityType}
            onChange={(event) => {
              setEntityType(event.target.value as EntityType | '')
              pages.reset()
            }}
          >
            <option value="">All</option>
            <option value="patient">Patients</option>
            <option value="condition">Conditions</option>
          </select>
        </label>
        <button
          type="button"
          className="danger"
          disabled={busy || (pages.pageNumber === 1 && items.length === 0)}
          onClick={() => {
            replayAll.mutate()
          }}
        >
          {replayAll.isPending ? 'Replaying…' : replayAllLabel}
        </button>
      </div>

      <div role="status" className="sync-live">
        <OutcomeMessage outcome={outcome} kind="success" onDismiss={dismiss} />
        {replayOne.isPending && <p className="muted">Replaying {replayOne.variables.id}…</p>}
      </div>
      <OutcomeMessage outcome={outcome} kind="error" onDismiss={dismiss} />
      {failed.isError && (
        <p role="alert" className="error">
          The failed entities could not be read: {describeError(failed.error)}
        </p>
      )}

      {failed.isPending ? (
        <p>Loading failed entities…</p>
      ) : failed.data === undefined ? null : items.length === 0 ? (
        <p className="muted">No failed {entityType === '' ? 'rows' : `${entityType}s`}.</p>
      ) : (
        <table className="sync-table">
          <caption>
            Rows whose push failed for good, oldest change first (page {pages.pageNumber})
          </caption>
          <thead>
            <tr>
              <th scope="col">Type</th>
              <th scope="col">Id</th>
              <th scope="col">FHIR id</th>
              <th scope="col">Last error</th>
              <th scope="col">Attempts</th>
              <th scope="col">Updated</th>
              <th scope="col">
                <span className="visually-hidden">Action</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((row) => (
              <tr key={`${row.entityType}/${row.id}`}>
                <td>{row.entityType}</td>
                <td>
                  <EntityIdCell row={row} />
                </td>
                <td>
                  {row.fhirId === null ? (
                    <span className="muted">none</span>
                  ) : (
                    <code>{row.fhirId}</code>
                  )}
                </td>
                <td className="sync-error-text">
                  {row.error ?? <span className="muted">none</span>}
                </td>
                <td className="number">{row.attempts}</td>
                <td>
                  <time dateTime={row.updatedAt}>{formatDateTime(row.updatedAt)}</time>
                </td>
                <td>
                  <button
                    type="button"
                    className="secondary"
                    disabled={busy}
                    aria-label={`Replay ${row.entityType} ${row.id}`}
                    onClick={() => {
                      replayOne.mutate(row)
                    }}
                  >
                    Replay
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      {(pages.pageNumber > 1 || failed.data?.nextCursor) && (
        <Pager
          label="Failed entities pages"
          pageNumber={pages.pageNumber}
          nextCursor={failed.data?.nextCursor}
          loading={false}
          onNext={pages.next}
          onPrevious={pages.previous}
        />
      )}
    </section>
  )
}
