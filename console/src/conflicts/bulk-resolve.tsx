import { useMutation } from '@tanstack/react-query'
import { useEffect, useId, useRef } from 'react'
import { Link } from 'react-router'
import { useApi } from '../auth/session.tsx'
import { BULK_OUTCOME_LABELS, groupBulkResults, summarizeBulkResults } from './conflict-messages.ts'
import { ProblemAlert } from './conflict-parts.tsx'
import type { BulkResult, Conflict } from './conflict-types.ts'

export interface BulkResolvePanelProps {
  field: string
  /** The conflicts on the page, which select-all selects. */
  items: readonly Conflict[]
  selected: ReadonlySet<string>
  onSelectedChange: (selected: Set<string>) => void
  /** Called after the API returns the outcomes, so the page reads the list again. */
  onResolved: () => void
}

function BulkSummary({ results }: { results: readonly BulkResult[] }) {
  return (
    <div className="bulk-summary">
      <p>
        <strong>Bulk resolution finished: {summarizeBulkResults(results)}.</strong>
      </p>
      {groupBulkResults(results).map(([outcome, group]) => (
        <section key={outcome} aria-label={BULK_OUTCOME_LABELS[outcome]}>
          <h3>
            {BULK_OUTCOME_LABELS[outcome]} ({group.length})
          </h3>
          <ul>
            {group.map((result) => (
              <li key={result.id}>
                <Link to={`/conflicts/${result.id}`}>Conflict {result.id}</Link>
                {result.status !== undefined && <> — now {result.status}</>}
                {result.code !== undefined && (
                  <>
                    {' '}
                    — <code>{result.code}</code>
                  </>
                )}
                {result.detail !== undefined && <>: {result.detail}</>}
              </li>
            ))}
          </ul>
        </section>
      ))}
    </div>
  )
}

/**
 * Takes one side for the selected open conflicts of one field in a single
 * `POST /conflicts/resolve`, then shows the outcome of each.
 */
export function BulkResolvePanel({
  field,
  items,
  selected,
  onSelectedChange,
  onResolved,
}: BulkResolvePanelProps) {
  const api = useApi()
  const ids = useId()
  const selectAllRef = useRef<HTMLInputElement>(null)
  const pageIds = items.map((conflict) => conflict.id)
  const chosen = pageIds.filter((id) => selected.has(id))
  const allSelected = pageIds.length > 0 && chosen.length === pageIds.length

  // A partly selected page shows the select-all box as mixed, which only a property can set.
  useEffect(() => {
    if (selectAllRef.current !== null) {
      selectAllRef.current.indeterminate = chosen.length > 0 && !allSelected
    }
  }, [chosen.length, allSelected])

  const resolve = useMutation({
    mutationFn: (choice: 'registry' | 'fhir') =>
      api.request<{ results: BulkResult[] }>('/conflicts/resolve', {
        method: 'POST',
        body: { conflictIds: chosen, choice },
      }),
    onSuccess: () => {
      onSelectedChange(new Set())
      onResolved()
    },
  })

  return (
    <section className="panel bulk-panel" aria-labelledby={`${ids}-heading`}>
      <h2 id={`${ids}-heading`}>Resolve several {field} conflicts</h2>
      <p className="muted">
        Select conflicts below, then keep the registry value or take the FHIR value for all of them.
        Each conflict is resolved on its own, and the outcome of each is listed.
      </p>
      <div className="actions">
        <label className="inline-check" htmlFor={`${ids}-all`}>
          <input
            ref={selectAllRef}
            id={`${ids}-all`}
            type="checkbox"
            checked={allSelected}
            disabled={pageIds.length === 0}
            onChange={(event) => {
              const next = new Set(selected)
              for (const id of pageIds) {
                if (event.target.checked) next.add(id)
                else next.delete(id)
              }
              onSelectedChange(next)
            }}
          />
          Select all {pageIds.length} on this page
        </label>
        <span aria-live="polite">{chosen.length} selected</span>
      </div>
      <div className="actions">
        <button
          type="button"
          disabled={chosen.length === 0 || resolve.isPending}
          onClick={() => {
            resolve.mutate('registry')
          }}
        >
          Keep registry value for {chosen.length} selected
        </button>
        <button
          type="button"
          disabled={chosen.length === 0 || resolve.isPending}
          onClick={() => {
            resolve.mutate('fhir')
          }}
        >
          Take FHIR value for {chosen.length} selected
        </button>
      </div>
      <div role="status">
        {resolve.isPending && <p>Resolving {chosen.length} conflicts…</p>}
        {resolve.data !== undefined && <BulkSummary results={resolve.data.results} />}
      </div>
      {resolve.isError && (
        <ProblemAlert error={resolve.error} title="The bulk resolution was rejected" />
      )}
    </section>
  )
}
