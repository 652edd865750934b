import { useId, useState, type SyntheticEvent } from 'react'
import { isoFromLocalInput, localInputOfIso } from '../layout/local-time.ts'
import type { AuditFilters } from './audit-filters.ts'
import { AUDIT_ACTIONS, AUDIT_ENTITY_TYPES, AUDIT_SOURCES } from './audit-types.ts'
import { sourceLabel } from './audit-format.ts'

interface FormState {
  entityType: string
  entityId: string
  actor: string
  source: string
  action: string
  occurredFrom: string
  occurredTo: string
}

function formStateOf(filters: AuditFilters): FormState {
  return {
    entityType: filters.entityType ?? '',
    entityId: filters.entityId ?? '',
    actor: filters.actor ?? '',
    source: filters.source ?? '',
    action: filters.action ?? '',
    occurredFrom: localInputOfIso(filters.occurredFrom),
    occurredTo: localInputOfIso(filters.occurredTo),
  }
}

/** The audit log's filters; applying them writes them to the URL query, which the list reads. */
export function AuditFilterForm({
  filters,
  onApply,
}: {
  filters: AuditFilters
  onApply: (values: Record<string, string | undefined>) => void
}) {
  const ids = useId()
  const [form, setForm] = useState(() => formStateOf(filters))
  const set = (name: keyof FormState) => (event: { target: { value: string } }) => {
    setForm((current) => ({ ...current, [name]: event.target.value }))
  }

  const submit = (event: SyntheticEvent) => {
    event.preventDefault()
    onApply({
      entityType: form.entityType,
      entityId: form.entityId.trim(),
      actor: form.actor.trim(),
      source: form.source,
      action: form.action,
      occurredFrom: isoFromLocalInput(form.occurredFrom),
      occurredTo: isoFromLocalInput(form.occurredTo),
    })
  }

  return (
    <form className="filters" role="search" aria-label="Filter the audit log" onSubmit={submit}>
      <label htmlFor={`${ids}-type`}>
        Entity type
        <select id={`${ids}-type`} value={form.entityType} onChange={set('entityType')}>
          <option value="">any</option>
          {AUDIT_ENTITY_TYPES.map((type) => (
            <option key={type} value={type}>
              {type}
            </option>
          ))}
        </select>
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
      <label htmlFor={`${ids}-actor`}>
        Actor (user id)
        <input id={`${ids}-actor`} value={form.actor} onChange={set('actor')} autoComplete="off" />
      </label>
      <label htmlFor={`${ids}-source`}>
        Source
        <select id={`${ids}-source`} value={form.source} onChange={set('source')}>
          <option value="">any</option>
          {AUDIT_SOURCES.map((source) => (
            <option key={source} value={source}>
              {sourceLabel(source)}
            </option>
          ))}
        </select>
      </label>
      <label htmlFor={`${ids}-action`}>
        Action
        <select id={`${ids}-action`} value={form.action} onChange={set('action')}>
          <option value="">any</option>
          {AUDIT_ACTIONS.map((action) => (
            <option key={action} value={action}>
              {action}
            </option>
          ))}
        </select>
      </label>
      <label htmlFor={`${ids}-from`}>
        From (inclusive)
        <input
          id={`${ids}-from`}
          type="datetime-local"
          value={form.occurredFrom}
          onChange={set('occurredFrom')}
        />
      </label>
      <label htmlFor={`${ids}-to`}>
        Before
        <input
          id={`${ids}-to`}
          type="datetime-local"
          value={form.occurredTo}
          onChange={set('occurredTo')}
        />
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
