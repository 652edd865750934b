import type { ApiError } from '../api/client.ts'
import type { BulkOutcome, BulkResult } from './conflict-types.ts'

/** The meaning of each 409 of a conflict decision for the steward, and what to do next. */
const CONFLICT_ERROR_SENTENCES: Readonly<Record<string, string>> = {
  CONFLICT_NOT_OPEN:
    'Another steward settled this conflict before your decision arrived, so nothing was changed. The page now shows how it was settled.',
  CONFLICT_STALE:
    'The record changed on one side after this conflict was recorded. The conflict now holds the current values: look at them again before you decide.',
  ENTITY_DELETED:
    'The record was deleted after this conflict was recorded, so no value can be written to it. Dismiss the conflict instead.',
  PATIENT_DELETED:
    "The condition's patient is deleted, so the condition cannot be restored. Resolve the patient's delete conflict first.",
  CONFLICT_NOT_DISMISSIBLE:
    'A delete against an edit cannot be dismissed, because the next push would raise it again. Keep the registry side or take the FHIR side.',
}

/** Returns the sentence for a conflict decision's 409 code, or undefined for any other error. */
export function explainConflictError(error: ApiError): string | undefined {
  return error.status === 409 ? CONFLICT_ERROR_SENTENCES[error.code] : undefined
}

/** One invalid input field of a 400, with its path as the API names it. */
export interface FieldMessage {
  path: string
  message: string
}

/** Reads a problem's `errors`; an entry without a path is about the body as a whole. */
export function fieldMessagesOf(error: ApiError): FieldMessage[] {
  return error.errors.map((entry) => ({
    path: entry.path === '' ? '(body)' : entry.path,
    message: entry.message,
  }))
}

/** The outcome of parsing a steward's JSON: the value, or why it is not JSON. */
export type ParsedJson = { ok: true; value: unknown } | { ok: false; message: string }

/** Parses the text of the JSON textarea before anything is sent. */
export function parseJsonInput(text: string): ParsedJson {
  if (text.trim() === '') return { ok: false, message: 'Enter a JSON value, or null to remove it' }
  try {
    return { ok: true, value: JSON.parse(text) as unknown }
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message : String(error)
    return { ok: false, message: `The value is not valid JSON: ${reason}` }
  }
}

/** Names the conflict's field with its list element or coding, such as `telecom (phone|555-0100)`. */
export function partLabel(conflict: { field: string; itemKey: string | null }): string {
  return conflict.itemKey === null ? conflict.field : `${conflict.field} (${conflict.itemKey})`
}

/** Words for a conflict's `resolution`, including the ones the merge records. */
export function describeResolution(resolution: string | null): string {
  switch (resolution) {
    case null:
      return 'none'
    case 'registry':
      return 'registry value kept by a steward'
    case 'fhir':
      return 'FHIR value taken by a steward'
    case 'value':
      return 'value supplied by a steward'
    case 'lww-registry':
      return 'registry value, the later change (merge rule)'
    case 'lww-fhir':
      return 'FHIR value, the later change (merge rule)'
    case 'fhir-rule':
      return 'FHIR value (merge rule)'
    case 'converged':
      return 'both sides reached the same value'
    default:
      return resolution
  }
}

/** Headings of the bulk outcomes, in the order the summary lists them. */
export const BULK_OUTCOME_LABELS: Readonly<Record<BulkOutcome, string>> = {
  resolved: 'Resolved',
  stale: 'Changed meanwhile (stale): look at these again',
  'not-open': 'Already settled by someone else (not open)',
  'not-found': 'Not found',
  rejected: 'Rejected',
  failed: 'Failed',
}

/** Groups bulk results by outcome, keeping only the outcomes that occurred. */
export function groupBulkResults(results: readonly BulkResult[]): [BulkOutcome, BulkResult[]][] {
  const order = Object.keys(BULK_OUTCOME_LABELS) as BulkOutcome[]
  return order
    .map((outcome): [BulkOutcome, BulkResult[]] => [
      outcome,
      results.filter((result) => result.outcome === outcome),
    ])
    .filter(([, group]) => group.length > 0)
}

/** Summarizes a bulk resolution in one line, such as `3 resolved, 1 stale`. */
export function summarizeBulkResults(results: readonly BulkResult[]): string {
  const groups = groupBulkResults(results)
  if (groups.length === 0) return 'No conflict was sent'
  return groups.map(([outcome, group]) => `${group.length} ${outcome.replace('-', ' ')}`).join(', ')
}
