import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { useId, useState, type SyntheticEvent } from 'react'
import { Link, useSearchParams } from 'react-router'
import { useApi } from '../auth/session.tsx'
import { PageHeading } from '../layout/page-heading.tsx'
import { Pager, useCursorStack } from '../layout/cursor-pager.tsx'
import {
  birthDatePrefixProblem,
  filtersFromSearch,
  isFiltered,
  searchOfFilters,
  type PatientFilters,
} from './patient-filters.ts'
import { primaryName } from './patient-format.ts'
import { ErrorAlert, SyncStateBadge } from './patient-parts.tsx'
import type { PatientPage } from './patient-types.ts'
import './patients.css'

const PAGE_SIZE = 25

/** The search form; searching writes the filters into the URL query, which the list reads. */
function PatientSearchForm({
  filters,
  onSearch,
}: {
  filters: PatientFilters
  onSearch: (filters: PatientFilters) => void
}) {
  const ids = useId()
  const [name, setName] = useState(filters.name ?? '')
  const [identifier, setIdentifier] = useState(filters.identifier ?? '')
  const [birthDate, setBirthDate] = useState(filters.birthDate ?? '')
  const [birthDateError, setBirthDateError] = useState<string | undefined>()

  const submit = (event: SyntheticEvent) => {
    event.preventDefault()
    const problem = birthDatePrefixProblem(birthDate.trim())
    setBirthDateError(problem)
    if (problem !== undefined) return
    onSearch({ name: name.trim(), identifier: identifier.trim(), birthDate: birthDate.trim() })
  }

  return (
    <form className="filters" role="search" aria-label="Search patients" onSubmit={submit}>
      <label htmlFor={`${ids}-name`}>
        Name
        <input
          id={`${ids}-name`}
          value={name}
          onChange={(event) => {
            setName(event.target.value)
          }}
          autoComplete="off"
        />
      </label>
      <label htmlFor={`${ids}-identifier`}>
        Identifier (system|value)
        <input
          id={`${ids}-identifier`}
          value={identifier}
          onChange={(event) => {
            setIdentifier(event.target.value)
          }}
          size={36}
          autoComplete="off"
        />
      </label>
      <label htmlFor={`${ids}-birth-date`}>
        Birth date starts with
        <input
          id={`${ids}-birth-date`}
          value={birthDate}
          placeholder="1980-05"
          onChange={(event) => {
            setBirthDate(event.target.value)
          }}
          aria-invalid={birthDateError !== undefined}
          aria-describedby={birthDateError === undefined ? undefined : `${ids}-birth-date-error`}
          autoComplete="off"
        />
      </label>
      <button type="submit">Search</button>
      <button
        type="button"
        className="secondary"
        onClick={() => {
          onSearch({})
        }}
      >
        Clear search
      </button>
      {birthDateError !== undefined && (
        <p id={`${ids}-birth-date-error`} className="error field-error" role="alert">
          {birthDateError}
        </p>
      )}
    </form>
  )
}

/** One search's results and pages; mounted anew for each search, so it starts at page 1. */
function PatientResults({ filters }: { filters: PatientFilters }) {
  const api = useApi()
  const pages = useCursorStack()
  const query = useQuery({
    queryKey: ['patients', 'list', filters, pages.cursor],
    queryFn: () =>
      api.request<PatientPage>('/patients', {
        query: { ...filters, limit: PAGE_SIZE, cursor: pages.cursor },
      }),
    placeholderData: keepPreviousData,
  })
  const items = query.data?.items ?? []

  return (
    <>
      {query.isPending && <p role="status">Loading patients…</p>}
      {query.isError && <ErrorAlert title="The patients could not be loaded" error={query.error} />}
      {query.isSuccess && items.length === 0 && (
        <p className="notice" role="status">
          {isFiltered(filters)
            ? 'No patient matches this search.'
            : 'The registry has no patients.'}
        </p>
      )}
      {items.length > 0 && (
        <div className="patients-scroll">
          <table>
            <caption>
              Patients, page {pages.pageNumber}
              {query.isPlaceholderData && <span className="muted"> (loading…)</span>}
            </caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Birth date</th>
                <th scope="col">Gender</th>
                <th scope="col">Sync state</th>
              </tr>
            </thead>
            <tbody>
              {items.map((patient) => (
                <tr key={patient.id}>
                  <th scope="row">
                    <Link to={`/patients/${patient.id}`}>{primaryName(patient.names)}</Link>
                  </th>
                  <td>{patient.birthDate ?? <span className="muted">unknown</span>}</td>
                  <td>{patient.gender ?? <span className="muted">unknown</span>}</td>
                  <td>
                    <SyncStateBadge state={patient.sync.state} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager
        label="Pages of patients"
        pageNumber={pages.pageNumber}
        nextCursor={query.data?.nextCursor}
        loading={query.isPlaceholderData}
        onNext={pages.next}
        onPrevious={pages.previous}
      />
    </>
  )
}

/** Patients by name, identifier or birth date prefix, with the search kept in the URL query. */
export function PatientListPage() {
  const [searchParams, setSearchParams] = useSearchParams()
  const filters = filtersFromSearch(searchParams)
  const search = searchOfFilters(filters).toString()

  return (
    <>
      <title>Patients · Brain Registry</title>
      <PageHeading>Patients</PageHeading>
      <PatientSearchForm
        key={`form?${search}`}
        filters={filters}
        onSearch={(next) => {
          setSearchParams(searchOfFilters(next))
        }}
      />
      <PatientResults key={`results?${search}`} filters={filters} />
    </>
  )
}
