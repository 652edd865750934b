import { useId, useState, type SyntheticEvent } from 'react'
import { DEFAULT_PAGE_SIZE, PAGE_SIZES, type ConflictFilters } from './conflict-filters.ts'
import { isoFromLocalInput, localInputOfIso } from '../layout/local-time.ts'
import { CONFLICT_ENTITY_TYPES, CONFLICT_STATUSES, DELETION_FIELD } from './conflict-types.ts'

/** The merge fields a conflict can name, offered as suggestions in the field filter. */
const KNOWN_FIELDS = [
  'names',
  'birthDate',
  'gender',
  'identifiers',
  'registryIdentifier',
  'telecom',
  'addresses',
  'deceased',
  'code',
  'clinicalStatus',
  'verificationStatus',
  'onset',
  'abatement',
  'recordedDate',
  DELETION_FIELD,
] as const

interface FormState {
  status: string
  entityType: string
  field: string
  entityId: string
  createdFrom: string
  createdTo: string
  limit: string
}

function formStateOf(filters: ConflictFilters): FormState {
  return {
    status: filters.status,
    entityType: filters.entityType ?? '',
    field: filters.field ?? '',
    entityId: filters.entityId ?? '',
    createdFrom: localInputOfIso(filters.createdFrom),
    createdTo: localInputOfIso(filters.createdTo),
    limit: String(filters.limit ?? DEFAULT_PAGE_SIZE),
  }
}

/**
 * The queue's filters. Applying them writes them to the URL query, which the list reads, so a
 * link or a reload shows the same conflicts.
 */
export function ConflictFilterForm({
  filters,
  onApply,
}: {
  filters: ConflictFilters
  onApply: (filters: Record<string, string | undefined>) => void
}) {
  const ids = useId()
  const [form, setForm] = useState(() => formStateOf(filters))
  const set = (name: keyof FormState) => (event: { target: { value: string } }) => {
    setForm((current) => ({ ...current, [name]: event.target.value }))
  }

  const submit = (event: SyntheticEvent) => {
    event.preventDefault()
    onApply({
      status: form.status,
      entityType: form.entityType,
      field: form.field.trim(),
      entityId: form.entityId.trim(),
      createdFrom: isoFromLocalInput(form.createdFrom),
      createdTo: isoFromLocalInput(form.createdTo),
      limit: form.limit,
    })
  }

  return (
    <form className="filters" onSubmit={submit} role="search" aria-label="Filter conflicts">
      <label htmlFor={`${ids}-status`}>
        Status
        <select id={`${ids}-status`} value={form.status} onChange={set('status')}>
          {CONFLICT_STATUSES.map((status) => (
            <option key={status} value={status}>
              {status}
            </option>
          ))}
        </select>
      </label>
      <label htmlFor={`${ids}-type`}>
        Entity type
        <select id={`${ids}-type`} value={form.entityType} onChange={set('entityType')}>
          <option value="">any</option>
          {CONFLICT_ENTITY_TYPES.map((type) => (
            <option key={type} value={type}>
              {type}
            </option>
          ))}
        </select>
      </label>
      <label htmlFor={`${ids}-field`}>
        Field
        <input
          id={`${ids}-field`}
          list={`${ids}-fields`}
          value={form.field}
          onChange={set('field')}
          autoComplete="off"
        />
        <datalist id={`${ids}-fields`}>
          {KNOWN_FIELDS.map((field) => (
            <option key={field} value={field} />
          ))}
        </datalist>
      </label>
      <label htmlFor={`${ids}-entity`}>
        Entity id
        <input
          id={`${ids}-entity`}
          value={form.entityId}
          onChange={set('entityId')}
          size={36}
          autoComplete="off"
        />
      </label>
      <label htmlFor={`${ids}-from`}>
        Created from
        <input
          id={`${ids}-from`}
          type="datetime-local"
          value={form.createdFrom}
          onChange={set('createdFrom')}
        />
      </label>
      <label htmlFor={`${ids}-to`}>
        Created before
        <input
          id={`${ids}-to`}
          type="datetime-local"
          value={form.createdTo}
          onChange={set('createdTo')}
        />
      </label>
      <label htmlFor={`${ids}-limit`}>
        Per page
        <select id={`${ids}-limit`} value={form.limit} onChange={set('limit')}>
          {PAGE_SIZES.map((size) => (
            <option key={size} value={size}>
              {size}
            </option>
          ))}
        </select>
      </label>
      <button type="submit">Apply filters</button>
      <button
        type="button"
        className="secondary"
        onClick={() => {
          onApply({})
        }}
      >
        Clear filters
      </button>
    </form>
  )
}
