import type { AuditSource } from './audit-types.ts'

const SOURCE_LABELS: Record<AuditSource, string> = {
  user: 'API',
  'fhir-merge': 'FHIR merge',
  steward: 'steward resolution',
  drift: 'drift repair',
}

/** The audit source in words, followed by the API's own value: `FHIR merge (fhir-merge)`. */
export function sourceLabel(source: AuditSource): string {
  return `${SOURCE_LABELS[source]} (${source})`
}

/** One changed field of an audit entry; `before` or `after` is undefined when it was absent. */
export interface FieldChange {
  field: string
  before: unknown
  after: unknown
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`
  if (isRecord(value)) {
    const keys = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort()
    return `{${keys.map((key) => `${JSON.stringify(key)}:${stableJson(value[key])}`).join(',')}}`
  }
  return value === undefined ? 'undefined' : JSON.stringify(value)
}

/**
 * The fields an audit entry changed, in the order they first appear. A create lists every field
 * of `after` and a delete every field of `before`. Values that are not objects, such as a
 * `revert`'s changed part, are one change named `value`.
 */
export function changedFields(before: unknown, after: unknown): FieldChange[] {
  if (!isRecord(before) && !isRecord(after)) {
    return stableJson(before) === stableJson(after) ? [] : [{ field: 'value', before, after }]
  }
  const left = isRecord(before) ? before : {}
  const right = isRecord(after) ? after : {}
  const fields = [...new Set([...Object.keys(left), ...Object.keys(right)])]
  return fields
    .filter((field) => stableJson(left[field]) !== stableJson(right[field]))
    .map((field) => ({ field, before: left[field], after: right[field] }))
}

/** A value as compact JSON for the before → after view; `absent` when it was not there. */
export function formatAuditValue(value: unknown): string {
  if (value === undefined) return 'absent'
  return JSON.stringify(value)
}
