import { useMutation, useQueryClient } from '@tanstack/react-query'
import { describeError } from '../api/client.ts'
import { useApi } from '../auth/session.tsx'
import { OutcomeMessage, type ActionOutcome } from './action-outcome.tsx'
import { StatusBadge } from './status-badge.tsx'
import {
  SYNC_KEYS,
  registerSubscriptions,
  type SubscriptionStatus,
  type SyncStatus,
} from './sync-api.ts'
import { subscriptionAttention } from './sync-attention.ts'

function SubscriptionTable({ items }: { items: SubscriptionStatus[] }) {
  if (items.length === 0) return <p className="muted">The registry keeps no Subscription.</p>
  return (
    <table className="sync-table">
      <caption>The registry's Subscriptions as HAPI reports them</caption>
      <thead>
        <tr>
          <th scope="col">Resource type</th>
          <th scope="col">Id</th>
          <th scope="col">Status</th>
          <th scope="col">Error</th>
          <th scope="col">Endpoint</th>
        </tr>
      </thead>
      <tbody>
        {items.map((item) => (
          <tr key={item.id}>
            <th scope="row">{item.resourceType}</th>
            <td>
              <code>{item.id}</code>
            </td>
            <td>
              <StatusBadge attention={subscriptionAttention(item.status)} />
            </td>
            <td className="sync-error-text">{item.error ?? <span className="muted">none</span>}</td>
            <td>
              {item.endpoint === null ? (
                <span className="muted">none</span>
              ) : (
                <code>{item.endpoint}</code>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

/**
 * Shows the Subscriptions on HAPI and a button that registers them again. Registering waits until HAPI
 * reports them active, which takes a few seconds, so the button shows its progress meanwhile.
 */
export function SubscriptionsSection({
  subscriptions,
}: {
  subscriptions: SyncStatus['subscriptions']
}) {
  const api = useApi()
  const queryClient = useQueryClient()
  const register = useMutation({
    mutationFn: () => registerSubscriptions(api),
    onSettled: () => queryClient.invalidateQueries({ queryKey: SYNC_KEYS.status }),
  })

  const outcome: ActionOutcome = register.isSuccess
    ? {
        kind: 'success',
        text: `Subscriptions registered: ${
          register.data.items.map((item) => `${item.resourceType} ${item.status}`).join(', ') ||
          'none needed'
        }.`,
      }
    : register.isError
      ? {
          kind: 'error',
          text: `The Subscriptions could not be registered: ${describeError(register.error)}`,
        }
      : null

  return (
    <section aria-labelledby="sync-subscriptions-heading">
      <h2 id="sync-subscriptions-heading">Subscriptions</h2>
      {'error' in subscriptions ? (
        <p role="alert" className="error">
          <span className="badge danger">HAPI not read</span> The Subscriptions could not be read
          from HAPI: {subscriptions.error}
        </p>
      ) : (
        <SubscriptionTable items={subscriptions.items} />
      )}
      <div className="actions">
        <button
          type="button"
          className="secondary"
          disabled={register.isPending}
          aria-describedby="sync-register-help"
          onClick={() => {
            register.mutate()
          }}
        >
          {register.isPending ? 'Registering…' : 'Register Subscriptions again'}
        </button>
        <span id="sync-register-help" className="muted">
          Creates or updates them on HAPI and waits until HAPI reports them active.
        </span>
      </div>
      <div role="status" className="sync-live">
        {register.isPending && (
          <p className="notice">Registering the Subscriptions on HAPI; this takes a few seconds…</p>
        )}
        <OutcomeMessage outcome={outcome} kind="success" onDismiss={register.reset} />
      </div>
      <OutcomeMessage outcome={outcome} kind="error" onDismiss={register.reset} />
    </section>
  )
}
