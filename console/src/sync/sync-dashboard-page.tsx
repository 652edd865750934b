import { useIsFetching, useQuery, useQueryClient } from '@tanstack/react-query'
import { useId, useState } from 'react'
import { describeError } from '../api/client.ts'
import { useApi } from '../auth/session.tsx'
import { PageHeading } from '../layout/page-heading.tsx'
import { DriftSection } from './drift-section.tsx'
import { FailedEntitiesSection } from './failed-entities-section.tsx'
import { QueuesSection, SyncModesSection } from './queues-section.tsx'
import { SubscriptionsSection } from './subscriptions-section.tsx'
import { REFRESH_INTERVAL_MS, SYNC_KEYS, fetchStatus, type SyncStatus } from './sync-api.ts'
import { formatClockTime } from './sync-format.ts'
import './sync.css'

/**
 * The admins' view of the sync engine: queues, failed rows, drift runs and Subscriptions. It
 * reads everything again every five seconds until the admin pauses that. A failed read keeps the
 * last figures on screen under an error, because stale figures with a warning beat an empty page.
 */
export function SyncDashboardPage() {
  const api = useApi()
  const queryClient = useQueryClient()
  const toggleId = useId()
  const [autoRefresh, setAutoRefresh] = useState(true)
  const refetchInterval = autoRefresh ? REFRESH_INTERVAL_MS : false

  const status = useQuery({
    queryKey: SYNC_KEYS.status,
    queryFn: () => fetchStatus(api),
    refetchInterval,
  })
  const fetching = useIsFetching({ queryKey: SYNC_KEYS.all }) > 0

  return (
    <>
      <title>Sync · Brain Registry</title>
      <PageHeading>Sync</PageHeading>
      <div className="sync-toolbar">
        <p className="sync-updated">
          {status.dataUpdatedAt > 0
            ? `Updated at ${formatClockTime(new Date(status.dataUpdatedAt))}`
            : 'Not loaded yet'}
          {fetching && <span className="muted"> (refreshing…)</span>}
        </p>
        <label htmlFor={toggleId} className="sync-toggle">
          <input
            id={toggleId}
            type="checkbox"
            checked={autoRefresh}
            onChange={(event) => {
              setAutoRefresh(event.target.checked)
            }}
          />
          Auto-refresh every {REFRESH_INTERVAL_MS / 1000} s
        </label>
        <button
          type="button"
          className="secondary"
          disabled={fetching}
          onClick={() => {
            void queryClient.invalidateQueries({ queryKey: SYNC_KEYS.all })
          }}
        >
          Refresh now
        </button>
      </div>

      {status.isError && (
        <p role="alert" className="error">
          {status.data === undefined
            ? `The sync status could not be read: ${describeError(status.error)}`
            : `The last refresh failed: ${describeError(status.error)}. The figures below are from ${formatClockTime(new Date(status.dataUpdatedAt))}.`}
        </p>
      )}

      {status.data !== undefined && <HapiAlert subscriptions={status.data.subscriptions} />}

      {status.isPending ? (
        <p>Loading the sync status…</p>
      ) : status.data === undefined ? null : (
        <>
          <SyncModesSection modes={status.data.modes} />
          <QueuesSection status={status.data} />
          <FailedEntitiesSection refetchInterval={refetchInterval} />
          <DriftSection status={status.data} refetchInterval={refetchInterval} />
          <SubscriptionsSection subscriptions={status.data.subscriptions} />
        </>
      )}
    </>
  )
}

/**
 * Puts HAPI's trouble at the top of the page, since the queue figures stay calm for a while when
 * HAPI is down: pushes wait in their retries, and nothing new arrives from the Subscriptions.
 */
function HapiAlert({ subscriptions }: { subscriptions: SyncStatus['subscriptions'] }) {
  if ('error' in subscriptions) {
    return (
      <p role="alert" className="error">
        HAPI FHIR could not be read, so pushes to it and its notifications may be stopped:{' '}
        {subscriptions.error}
      </p>
    )
  }
  const inactive = subscriptions.items.filter((item) => item.status !== 'active')
  if (inactive.length === 0) return null
  return (
    <p role="alert" className="error">
      {inactive.length === 1 ? 'A Subscription is' : `${inactive.length} Subscriptions are`} not
      active on HAPI, so changes made there do not reach the registry:{' '}
      {inactive.map((item) => `${item.id} (${item.status})`).join(', ')}. See Subscriptions below.
    </p>
  )
}
