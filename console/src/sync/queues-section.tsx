import { StatusBadge } from './status-badge.tsx'
import type { QueueDepth, RowStates, SyncStatus } from './sync-api.ts'
import {
  deadLetterAttention,
  inboxAttention,
  queueAttention,
  rowAttention,
} from './sync-attention.ts'
import { formatAge } from './sync-format.ts'

const QUEUE_LABELS: [keyof SyncStatus['queues'], string][] = [
  ['push', 'Push (fhir-push)'],
  ['merge', 'Merge (fhir-merge)'],
  ['drift', 'Drift (sync-drift)'],
]

const ROW_LABELS: [keyof SyncStatus['rows'], string][] = [
  ['patients', 'Patients'],
  ['conditions', 'Conditions'],
]

function QueueRow({
  queue,
  label,
  depth,
}: {
  queue: keyof SyncStatus['queues']
  label: string
  depth: QueueDepth
}) {
  return (
    <tr>
      <th scope="row">{label}</th>
      <td className="number">{depth.ready}</td>
      <td className="number">{depth.deferred}</td>
      <td className="number">{depth.active}</td>
      <td>{formatAge(depth.oldestReadyAgeSeconds)}</td>
      <td>
        <StatusBadge attention={queueAttention(queue, depth)} />
      </td>
    </tr>
  )
}

function RowStatesRow({ label, rows }: { label: string; rows: RowStates }) {
  return (
    <tr>
      <th scope="row">{label}</th>
      <td className="number">{rows.pending}</td>
      <td className="number">{rows.conflict}</td>
      <td className="number">{rows.failed}</td>
      <td>{formatAge(rows.oldestPendingAgeSeconds)}</td>
      <td>
        <StatusBadge attention={rowAttention(rows)} />
      </td>
    </tr>
  )
}

/** Shows queue depths, dead letters, unsynced rows per table and the notification inbox. */
export function QueuesSection({ status }: { status: SyncStatus }) {
  const inbox = status.notifications
  return (
    <section aria-labelledby="sync-queues-heading">
      <h2 id="sync-queues-heading">Queues</h2>
      <div className="sync-grid">
        <table className="sync-table" id="sync-queue-table">
          <caption>Work queues</caption>
          <thead>
            <tr>
              <th scope="col">Queue</th>
              <th scope="col">Ready</th>
              <th scope="col">Deferred</th>
              <th scope="col">Active</th>
              <th scope="col">Oldest ready job</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {QUEUE_LABELS.map(([key, label]) => (
              <QueueRow key={key} queue={key} label={label} depth={status.queues[key]} />
            ))}
          </tbody>
        </table>

        <table className="sync-table">
          <caption>Dead letters</caption>
          <thead>
            <tr>
              <th scope="col">Dead-letter queue</th>
              <th scope="col">Jobs</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(status.deadLetters).map(([queue, count]) => (
              <tr key={queue}>
                <th scope="row">{queue}</th>
                <td className="number">{count}</td>
                <td>
                  <StatusBadge attention={deadLetterAttention(count)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>

        <table className="sync-table">
          <caption>Rows not synced</caption>
          <thead>
            <tr>
              <th scope="col">Table</th>
              <th scope="col">Pending</th>
              <th scope="col">Conflict</th>
              <th scope="col">Failed</th>
              <th scope="col">Oldest pending</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {ROW_LABELS.map(([key, label]) => (
              <RowStatesRow key={key} label={label} rows={status.rows[key]} />
            ))}
          </tbody>
        </table>

        <table className="sync-table">
          <caption>Notification inbox</caption>
          <thead>
            <tr>
              <th scope="col">Unprocessed</th>
              <th scope="col">Parked</th>
              <th scope="col">Oldest unprocessed</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            <tr>
              <td className="number">{inbox.unprocessed}</td>
              <td className="number">{inbox.parked}</td>
              <td>{formatAge(inbox.oldestUnprocessedAgeSeconds)}</td>
              <td>
                <StatusBadge attention={inboxAttention(inbox)} />
              </td>
            </tr>
          </tbody>
        </table>
      </div>
    </section>
  )
}

/** Shows the direction and trigger of each resource type, one line each. */
export function SyncModesSection({ modes }: { modes: SyncStatus['modes'] }) {
  return (
    <section aria-labelledby="sync-modes-heading" className="sync-modes">
      <h2 id="sync-modes-heading">Sync modes</h2>
      <dl>
        {Object.entries(modes).map(([resourceType, mode]) => (
          <div key={resourceType}>
            <dt>{resourceType}</dt>
            <dd>
              {mode.direction}, by {mode.trigger}
            </dd>
          </div>
        ))}
      </dl>
    </section>
  )
}
