/** Result of a section's last action: a success for its status line or an error for an alert. */
export type ActionOutcome = { kind: 'success' | 'error'; text: string } | null

/**
 * Renders the outcome of the last action with a Dismiss button, since it stays on screen while
 * the figures around it refresh and may no longer match them. A success renders inside the
 * section's `role="status"` region; an error renders as its own alert.
 */
export function OutcomeMessage({
  outcome,
  kind,
  onDismiss,
}: {
  outcome: ActionOutcome
  kind: 'success' | 'error'
  onDismiss: () => void
}) {
  if (outcome?.kind !== kind) return null
  return (
    <p role={kind === 'error' ? 'alert' : undefined} className={`${kind} sync-message`}>
      <span>{outcome.text}</span>
      <button type="button" className="secondary sync-dismiss" onClick={onDismiss}>
        Dismiss
      </button>
    </p>
  )
}
