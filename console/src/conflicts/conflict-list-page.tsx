import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import { Link, useSearchParams } from 'react-router'
import { useApi } from '../auth/session.tsx'
import { PageHeading } from '../layout/page-heading.tsx'
import { BulkResolvePanel } from './bulk-resolve.tsx'
import { ConflictFilterForm } from './conflict-filter-form.tsx'
import {
  DEFAULT_PAGE_SIZE,
  bulkFieldOf,
  filtersFromSearch,
  isFiltered,
  searchOfFilters,
  type ConflictFilters,
} from './conflict-filters.ts'
import { partLabel } from './conflict-messages.ts'
import { Time } from '../layout/time.tsx'
import { ProblemAlert, StatusBadge } from './conflict-parts.tsx'
import { DELETION_FIELD, type Conflict, type ConflictPage } from './conflict-types.ts'
import { formatCompact } from './value-diff.ts'
import './conflicts.css'
import { Pager, useCursorStack } from '../layout/cursor-pager.tsx'

/** Reads the open queue again this often, since the merge opens conflicts at any time. */
const REFRESH_INTERVAL_MS = 30_000

function ConflictRow({
  conflict,
  queueSearch,
  selection,
}: {
  conflict: Conflict
  queueSearch: string
  selection?: { checked: boolean; onChange: (checked: boolean) => void }
}) {
  const absent = conflict.field === DELETION_FIELD ? 'deleted' : 'absent'
  const name = `${partLabel(conflict)} of ${conflict.entityType} ${conflict.entityId}`
  return (
    <tr>
      {selection !== undefined && (
        <td>
          <input
            type="checkbox"
            aria-label={`Select the conflict on ${name}`}
            checked={selection.checked}
            onChange={(event) => {
              selection.onChange(event.target.checked)
            }}
          />
        </td>
      )}
      <td>
        {conflict.entityType}
        <br />
        <code className="muted">{conflict.entityId}</code>
      </td>
      <th scope="row">
        <Link to={`/conflicts/${conflict.id}`} state={{ queueSearch }}>
          {partLabel(conflict)}
          <span className="visually-hidden">
            {' '}
            of {conflict.entityType} {conflict.entityId}
          </span>
        </Link>
      </th>
      <td>
        <code className="value-compact">{formatCompact(conflict.registryValue, absent)}</code>
      </td>
      <td>
        <code className="value-compact">{formatCompact(conflict.fhirValue, absent)}</code>
      </td>
      <td>
        <Time iso={conflict.createdAt} />
      </td>
      <td>
        <StatusBadge status={conflict.status} />
      </td>
    </tr>
  )
}

function emptyMessage(filters: ConflictFilters, firstPage: boolean): string {
  if (!firstPage) return 'This page has no conflicts left; go back to the previous page.'
  if (filters.status === 'open' && !isFiltered(filters))
    return 'The queue is empty: no conflict is open.'
  return `No ${filters.status} conflict matches these filters.`
}

/**
 * One filtered view of the queue: its pages, the selection and bulk resolution. The page mounts
 * it anew for each set of filters, which starts over at the first page with nothing selected.
 */
function ConflictQueue({
  filters,
  queueSearch,
}: {
  filters: ConflictFilters
  queueSearch: string
}) {
  const api = useApi()
  const queryClient = useQueryClient()
  const pages = useCursorStack()
  const [selected, setSelected] = useState<Set<string>>(new Set())
  const cursor = pages.cursor
  const bulkField = bulkFieldOf(filters)

  const query = useQuery({
    queryKey: ['conflicts', 'list', filters, cursor],
    queryFn: () =>
      api.request<ConflictPage>('/conflicts', {
        query: { ...filters, limit: filters.limit ?? DEFAULT_PAGE_SIZE, cursor },
      }),
    placeholderData: keepPreviousData,
    refetchInterval: filters.status === 'open' ? REFRESH_INTERVAL_MS : false,
  })
  const items = query.data?.items ?? []

  return (
    <>
      {bulkField === undefined ? (
        <p className="notice">
          {filters.status === 'open'
            ? 'To resolve several conflicts at once, filter by one field: bulk resolution takes the same side for open conflicts of one field.'
            : 'Bulk resolution applies to open conflicts; filter by status open and one field to use it.'}
        </p>
      ) : (
        <BulkResolvePanel
          field={bulkField}
          items={items}
          selected={selected}
          onSelectedChange={setSelected}
          onResolved={() => {
            void queryClient.invalidateQueries({ queryKey: ['conflicts'] })
          }}
        />
      )}

      {query.isPending && <p role="status">Loading conflicts…</p>}
      {query.isError && (
        <ProblemAlert error={query.error} title="The conflicts could not be loaded" />
      )}
      {query.isSuccess && items.length === 0 && (
        <p className="notice" role="status">
          {emptyMessage(filters, pages.pageNumber === 1)}
        </p>
      )}

      {items.length > 0 && (
        // A focusable region, so that keyboard users can scroll a table wider than the screen.
        <div
          className="table-scroll"
          role="region"
          aria-labelledby="conflict-table-caption"
          tabIndex={0}
        >
          <table className="conflict-table">
            <caption id="conflict-table-caption">
              {filters.status} conflicts{filters.field !== undefined && ` on ${filters.field}`},
              page {pages.pageNumber}
              {query.isPlaceholderData ? (
                <span className="muted"> (loading, showing the previous page…)</span>
              ) : (
                query.isFetching && <span className="muted"> (refreshing…)</span>
              )}
            </caption>
            <thead>
              <tr>
                {bulkField !== undefined && <th scope="col">Select</th>}
                <th scope="col">Entity</th>
                <th scope="col">Field</th>
                <th scope="col">Registry value</th>
                <th scope="col">FHIR value</th>
                <th scope="col">Created</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {items.map((conflict) => (
                <ConflictRow
                  key={conflict.id}
                  conflict={conflict}
                  queueSearch={queueSearch}
                  selection={
                    bulkField === undefined
                      ? undefined
                      : {
                          checked: selected.has(conflict.id),
                          onChange: (checked) => {
                            const next = new Set(selected)
                            if (checked) next.add(conflict.id)
                            else next.delete(conflict.id)
                            setSelected(next)
                          },
                        }
                  }
                />
              ))}
            </tbody>
          </table>
        </div>
      )}

      <Pager
        label="Pages of conflicts"
        pageNumber={pages.pageNumber}
        nextCursor={query.data?.nextCursor}
        loading={query.isPlaceholderData}
        onNext={pages.next}
        onPrevious={pages.previous}
      />
    </>
  )
}

/** The steward's conflict queue, with its filters kept in the URL query. */
export function ConflictListPage() {
  const [searchParams, setSearchParams] = useSearchParams()
  const filters = filtersFromSearch(searchParams)
  const search = searchOfFilters(filters).toString()
  const queueSearch = search === '' ? '' : `?${search}`

  return (
    <>
      <title>Conflicts · Brain Registry</title>
      <PageHeading>Conflicts</PageHeading>
      <ConflictFilterForm
        key={`filters?${search}`}
        filters={filters}
        onApply={(values) => {
          const params = new URLSearchParams()
          for (const [name, value] of Object.entries(values)) {
            if (value !== undefined && value !== '') params.set(name, value)
          }
          setSearchParams(searchOfFilters(filtersFromSearch(params)))
        }}
      />
      <ConflictQueue key={`queue?${search}`} filters={filters} queueSearch={queueSearch} />
    </>
  )
}
