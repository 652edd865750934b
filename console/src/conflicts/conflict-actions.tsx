import { useMutation } from '@tanstack/react-query'
import { useId, useState, type SyntheticEvent } from 'react'
import { ApiError } from '../api/client.ts'
import { useApi } from '../auth/session.tsx'
import { parseJsonInput } from './conflict-messages.ts'
import { ProblemAlert } from './conflict-parts.tsx'
import { DELETION_FIELD, type ConflictDetail, type ResolveChoice } from './conflict-types.ts'

/** A decision the steward sends: a resolution, or a dismissal with its reason. */
type Decision = { kind: 'resolve'; body: ResolveChoice } | { kind: 'dismiss'; reason: string }

const SUCCESS_MESSAGES = {
  registry: 'Conflict resolved: the registry value was kept.',
  fhir: 'Conflict resolved: the FHIR value was taken.',
  value: 'Conflict resolved with the value you entered.',
  dismiss: "Conflict dismissed: the registry's value stays.",
} as const

/** Checks whether the part takes a text input: both sides contain a string or nothing. */
function takesText(conflict: ConflictDetail): boolean {
  const isText = (value: unknown) => value === null || typeof value === 'string'
  return (
    isText(conflict.registryValue) &&
    isText(conflict.fhirValue) &&
    (typeof conflict.registryValue === 'string' || typeof conflict.fhirValue === 'string')
  )
}

function initialText(conflict: ConflictDetail, asText: boolean): string {
  if (asText) return typeof conflict.registryValue === 'string' ? conflict.registryValue : ''
  return JSON.stringify(conflict.registryValue ?? null, null, 2)
}

export interface ConflictActionsProps {
  conflict: ConflictDetail
  /** Called with the conflict the API returned and a sentence saying what happened. */
  onSettled: (conflict: ConflictDetail, message: string) => void
  /**
   * Called with the error of a failed decision other than a 400, which the page shows before it
   * reloads the conflict. A 400 is shown next to the input it is about.
   */
  onFailed: (error: unknown) => void
}

/**
 * The decisions on an open conflict: keep the registry value, take FHIR's, enter another value or
 * dismiss with a reason. A delete against an edit can only take a side, as the API requires.
 */
export function ConflictActions({ conflict, onSettled, onFailed }: ConflictActionsProps) {
  const api = useApi()
  const ids = useId()
  const deletion = conflict.field === DELETION_FIELD
  const asText = takesText(conflict)
  const [valueText, setValueText] = useState(() => initialText(conflict, asText))
  const [valueProblem, setValueProblem] = useState<string | null>(null)
  const [reason, setReason] = useState('')
  const [reasonProblem, setReasonProblem] = useState<string | null>(null)

  const decide = useMutation({
    mutationFn: (decision: Decision) =>
      decision.kind === 'resolve'
        ? api.request<ConflictDetail>(`/conflicts/${conflict.id}/resolve`, {
            method: 'POST',
            body: decision.body,
          })
        : api.request<ConflictDetail>(`/conflicts/${conflict.id}/dismiss`, {
            method: 'POST',
            body: { reason: decision.reason },
          }),
    onSuccess: (settled, decision) => {
      const key = decision.kind === 'resolve' ? decision.body.choice : 'dismiss'
      onSettled(settled, SUCCESS_MESSAGES[key])
    },
    onError: (error) => {
      if (!(error instanceof ApiError && error.status === 400)) onFailed(error)
    },
  })

  const badRequest =
    decide.error instanceof ApiError && decide.error.status === 400 ? decide.error : undefined
  const valueRejection = decide.variables?.kind === 'resolve' ? badRequest : undefined
  const reasonRejection = decide.variables?.kind === 'dismiss' ? badRequest : undefined
  const valueErrorId = `${ids}-value-error`
  const reasonErrorId = `${ids}-reason-error`

  const submitValue = (event: SyntheticEvent) => {
    event.preventDefault()
    if (asText) {
      setValueProblem(null)
      decide.mutate({ kind: 'resolve', body: { choice: 'value', value: valueText } })
      return
    }
    const parsed = parseJsonInput(valueText)
    if (!parsed.ok) {
      setValueProblem(parsed.message)
      return
    }
    setValueProblem(null)
    decide.mutate({ kind: 'resolve', body: { choice: 'value', value: parsed.value } })
  }

  const submitDismissal = (event: SyntheticEvent) => {
    event.preventDefault()
    if (reason.trim() === '') {
      setReasonProblem('Enter why the conflict is dismissed')
      return
    }
    setReasonProblem(null)
    decide.mutate({ kind: 'dismiss', reason: reason.trim() })
  }

  const busy = decide.isPending
  const valueInvalid = valueProblem !== null || valueRejection !== undefined
  const reasonInvalid = reasonProblem !== null || reasonRejection !== undefined

  return (
    <section aria-labelledby={`${ids}-heading`} className="panel conflict-actions">
      <h2 id={`${ids}-heading`}>Decide</h2>
      <div className="actions">
        <button
          type="button"
          disabled={busy}
          onClick={() => {
            decide.mutate({ kind: 'resolve', body: { choice: 'registry' } })
          }}
        >
          Keep registry value
        </button>
        <button
          type="button"
          disabled={busy}
          onClick={() => {
            decide.mutate({ kind: 'resolve', body: { choice: 'fhir' } })
          }}
        >
          Take FHIR value
        </button>
      </div>
      {busy && (
        <p role="status" className="muted">
          Sending your decision…
        </p>
      )}

      {deletion ? (
        <p className="muted">
          This conflict is a delete against an edit: it is settled by taking a side, so it takes no
          other value and cannot be dismissed.
        </p>
      ) : (
        <div className="columns">
          <form onSubmit={submitValue} noValidate className="stack wide">
            <h3>Use another value</h3>
            <label htmlFor={`${ids}-value`}>
              {asText ? 'New value' : 'New value as JSON (null removes the element)'}
            </label>
            {asText ? (
              <input
                id={`${ids}-value`}
                type="text"
                value={valueText}
                aria-invalid={valueInvalid}
                aria-describedby={valueInvalid ? valueErrorId : undefined}
                onChange={(event) => {
                  setValueText(event.target.value)
                }}
              />
            ) : (
              <textarea
                id={`${ids}-value`}
                rows={8}
                value={valueText}
                spellCheck={false}
                aria-invalid={valueInvalid}
                aria-describedby={valueInvalid ? valueErrorId : undefined}
                onChange={(event) => {
                  setValueText(event.target.value)
                }}
              />
            )}
            <div id={valueErrorId}>
              {valueProblem !== null && (
                <p className="error" role="alert">
                  {valueProblem}
                </p>
              )}
              {valueRejection !== undefined && (
                <ProblemAlert error={valueRejection} title="The API rejected the value" />
              )}
            </div>
            <button type="submit" disabled={busy}>
              Use this value
            </button>
          </form>

          <form onSubmit={submitDismissal} noValidate className="stack wide">
            <h3>Dismiss</h3>
            <label htmlFor={`${ids}-reason`}>Reason for dismissing (required)</label>
            <textarea
              id={`${ids}-reason`}
              rows={3}
              value={reason}
              required
              maxLength={2000}
              aria-invalid={reasonInvalid}
              aria-describedby={reasonInvalid ? reasonErrorId : undefined}
              onChange={(event) => {
                setReason(event.target.value)
              }}
            />
            <div id={reasonErrorId}>
              {reasonProblem !== null && (
                <p className="error" role="alert">
                  {reasonProblem}
                </p>
              )}
              {reasonRejection !== undefined && (
                <ProblemAlert error={reasonRejection} title="The API rejected the dismissal" />
              )}
            </div>
            <p className="muted">The registry value stays and is pushed to FHIR.</p>
            <button type="submit" className="danger" disabled={busy}>
              Dismiss
            </button>
          </form>
        </div>
      )}
    </section>
  )
}
