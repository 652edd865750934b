import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { useSearchParams } from 'react-router'
import { useApi } from '../auth/session.tsx'
import { PageHeading } from '../layout/page-heading.tsx'
import { Pager, useCursorStack } from '../layout/cursor-pager.tsx'
import { ErrorAlert } from '../patients/patient-parts.tsx'
import { AuditFilterForm } from './audit-filter-form.tsx'
import {
  filtersFromSearch,
  isFiltered,
  searchOfFilters,
  type AuditFilters,
} from './audit-filters.ts'
import { AuditTable } from './audit-table.tsx'
import type { AuditPage } from './audit-types.ts'

const PAGE_SIZE = 50

/** One filtered view of the log and its pages; mounted anew for each set of filters. */
function AuditEntries({ filters }: { filters: AuditFilters }) {
  const api = useApi()
  const pages = useCursorStack()
  const query = useQuery({
    queryKey: ['audit', 'list', filters, pages.cursor],
    queryFn: () =>
      api.request<AuditPage>('/audit', {
        query: { ...filters, limit: PAGE_SIZE, cursor: pages.cursor },
      }),
    placeholderData: keepPreviousData,
  })
  const items = query.data?.items ?? []

  return (
    <>
      {query.isPending && <p role="status">Loading the audit log…</p>}
      {query.isError && (
        <ErrorAlert title="The audit log could not be loaded" error={query.error} />
      )}
      {query.isSuccess && items.length === 0 && (
        <p className="notice" role="status">
          {isFiltered(filters)
            ? 'No audit entry matches these filters.'
            : 'The audit log is empty.'}
        </p>
      )}
      {items.length > 0 && (
        <AuditTable
          caption={`Audit log, newest first, page ${String(pages.pageNumber)}${query.isPlaceholderData ? ' (loading…)' : ''}`}
          entries={items}
          showEntity
        />
      )}
      <Pager
        label="Pages of the audit log"
        pageNumber={pages.pageNumber}
        nextCursor={query.data?.nextCursor}
        loading={query.isPlaceholderData}
        onNext={pages.next}
        onPrevious={pages.previous}
      />
    </>
  )
}

/** The whole audit log with the API's filters, kept in the URL query. */
export function AuditLogPage() {
  const [searchParams, setSearchParams] = useSearchParams()
  const filters = filtersFromSearch(searchParams)
  const search = searchOfFilters(filters).toString()

  return (
    <>
      <title>Audit log · Brain Registry</title>
      <PageHeading>Audit log</PageHeading>
      <AuditFilterForm
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
      <AuditEntries key={`entries?${search}`} filters={filters} />
    </>
  )
}
