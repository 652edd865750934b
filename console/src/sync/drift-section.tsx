import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import { Link } from 'react-router'
import { ApiError, describeError } from '../api/client.ts'
import { useApi } from '../auth/session.tsx'
import { OutcomeMessage, type ActionOutcome } from './action-outcome.tsx'
import { Pager, useCursorStack } from '../layout/cursor-pager.tsx'
import { StatusBadge } from './status-badge.tsx'
import {
  SYNC_KEYS,
  fetchFindings,
  lastRunOf,
  startDriftRun,
  type DriftKind,
  type DriftRun,
  type SyncStatus,
} from './sync-api.ts'
import { driftRunAttention } from './sync-attention.ts'
import { Time as SharedTime } from '../layout/time.tsx'
import { formatDateTime, formatDuration } from './sync-format.ts'

const FINDINGS_PAGE_SIZE = 20

const KIND_LABELS: Record<DriftKind, string> = {
  'catch-up': 'Catch-up',
  verification: 'Verification',
}

function describeStartError(error: unknown, kind: DriftKind): string {
  if (error instanceof ApiError && error.code === 'DRIFT_RUN_ACTIVE') {
    return (
      `A ${kind} run is already queued or running; wait until it finishes before starting ` +
      `another. ${describeError(error)}`
    )
  }
  return `The ${kind} run could not be started: ${describeError(error)}`
}

function Time({ iso }: { iso: string | null }) {
  return <SharedTime iso={iso} missing="not yet" />
}

/** Lists the counts of a run as `name value` pairs, whichever counts the API gives its kind. */
function Counts({ counts }: { counts: Record<string, number> }) {
  const entries = Object.entries(counts)
  if (entries.length === 0) return <span className="muted">none yet</span>
  return (
    <ul className="sync-counts">
      {entries.map(([name, value]) => (
        <li key={name}>
          {name} <strong>{value}</strong>
        </li>
      ))}
    </ul>
  )
}

function LastRunPanel({ kind, run }: { kind: DriftKind; run: DriftRun | null }) {
  const headingId = `sync-drift-${kind}-heading`
  const attention = run === null ? null : driftRunAttention(run)
  return (
    <section className="panel" aria-labelledby={headingId}>
      <h3 id={headingId}>Last {kind} run</h3>
      {run === null ? (
        <p className="muted">No {kind} run yet.</p>
      ) : (
        <dl className="sync-facts">
          <div>
            <dt>Status</dt>
            <dd>
              <span className="sync-run-status">{run.status}</span>{' '}
              {attention && <StatusBadge attention={attention} />}
            </dd>
          </div>
          <div>
            <dt>Requested by</dt>
            <dd>{run.requestedBy}</dd>
          </div>
          <div>
            <dt>Started</dt>
            <dd>
              <Time iso={run.startedAt} />
            </dd>
          </div>
          <div>
            <dt>Finished</dt>
            <dd>
              <Time iso={run.finishedAt} />
              {run.finishedAt !== null && (
                <span className="muted"> ({formatDuration(run.startedAt, run.finishedAt)})</span>
              )}
            </dd>
          </div>
          <div>
            <dt>Counts</dt>
            <dd>
              <Counts counts={run.counts} />
            </dd>
          </div>
          {run.error !== null && (
            <div>
              <dt>Error</dt>
              <dd className="sync-error-text">{run.error}</dd>
            </div>
          )}
          <div>
            <dt>Run id</dt>
            <dd>
              <code>{run.id}</code>
            </dd>
          </div>
        </dl>
      )}
    </section>
  )
}

function FindingsTable({
  run,
  refetchInterval,
}: {
  run: DriftRun
  refetchInterval: number | false
}) {
  const api = useApi()
  const pages = useCursorStack()
  const findings = useQuery({
    queryKey: SYNC_KEYS.findings(run.id, pages.cursor),
    queryFn: () => fetchFindings(api, run.id, pages.cursor, FINDINGS_PAGE_SIZE),
    // A finished run's findings no longer change; a running one adds a page at a time.
    refetchInterval: run.status === 'finished' || run.status === 'failed' ? false : refetchInterval,
  })

  if (findings.isPending) return <p>Loading the findings…</p>
  if (findings.isError) {
    return (
      <p role="alert" className="error">
        The findings could not be read: {describeError(findings.error)}
      </p>
    )
  }
  const { items, nextCursor } = findings.data
  return (
    <>
      {items.length === 0 ? (
        <p className="muted">
          {run.status === 'finished'
            ? 'The last verification found no drift.'
            : 'No findings so far.'}
        </p>
      ) : (
        <table className="sync-table">
          <caption>
            Findings of the verification run started{' '}
            {run.startedAt === null ? 'soon' : formatDateTime(run.startedAt)} (page{' '}
            {pages.pageNumber})
          </caption>
          <thead>
            <tr>
              <th scope="col">Entity</th>
              <th scope="col">FHIR id</th>
              <th scope="col">Found</th>
              <th scope="col">Fields</th>
              <th scope="col">FHIR versions (registry / HAPI)</th>
              <th scope="col">Repair queued</th>
            </tr>
          </thead>
          <tbody>
            {items.map((finding) => (
              <tr key={finding.id}>
                <td>
                  {finding.entityType}{' '}
                  {finding.entityType === 'patient' ? (
                    <Link to={`/patients/${finding.entityId}`}>
                      <code>{finding.entityId}</code>
                    </Link>
                  ) : (
                    <code>{finding.entityId}</code>
                  )}
                </td>
                <td>
                  {finding.fhirId === null ? (
                    <span className="muted">none</span>
                  ) : (
                    <code>{finding.fhirId}</code>
                  )}
                </td>
                <td>{finding.kind}</td>
                <td>{finding.fields.length === 0 ? '' : finding.fields.join(', ')}</td>
                <td>
                  {finding.registryFhirVersionId ?? 'none'} /{' '}
                  {finding.fhirVersionId ?? finding.fhirStatus}
                </td>
                <td>{finding.action}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {(pages.pageNumber > 1 || nextCursor !== null) && (
        <Pager
          label="Findings pages"
          pageNumber={pages.pageNumber}
          nextCursor={nextCursor}
          loading={false}
          onNext={pages.next}
          onPrevious={pages.previous}
        />
      )}
    </>
  )
}

/** Shows the last catch-up and verification runs, the last verification's findings, and run buttons. */
export function DriftSection({
  status,
  refetchInterval,
}: {
  status: SyncStatus
  refetchInterval: number | false
}) {
  const api = useApi()
  const queryClient = useQueryClient()
  const [outcome, setOutcome] = useState<ActionOutcome>(null)
  const dismiss = () => {
    setOutcome(null)
  }
  const catchUp = lastRunOf(status.drift, 'catch-up')
  const verification = lastRunOf(status.drift, 'verification')

  const start = useMutation({
    mutationFn: (kind: DriftKind) => startDriftRun(api, kind),
    onMutate: () => {
      setOutcome(null)
    },
    onSuccess: (run) => {
      setOutcome({
        kind: 'success',
        text: `${KIND_LABELS[run.kind]} run queued (${run.id}); its status shows below.`,
      })
    },
    onError: (error, kind) => {
      setOutcome({ kind: 'error', text: describeStartError(error, kind) })
    },
    onSettled: () => queryClient.invalidateQueries({ queryKey: SYNC_KEYS.status }),
  })

  return (
    <section aria-labelledby="sync-drift-heading">
      <h2 id="sync-drift-heading">Drift</h2>
      <div className="actions">
        {(['catch-up', 'verification'] as const).map((kind) => (
          <button
            key={kind}
            type="button"
            disabled={start.isPending}
            onClick={() => {
              start.mutate(kind)
            }}
          >
            Start {kind} now
          </button>
        ))}
      </div>
      <div role="status" className="sync-live">
        {start.isPending && <p className="muted">Starting the {start.variables} run…</p>}
        <OutcomeMessage outcome={outcome} kind="success" onDismiss={dismiss} />
      </div>
      <OutcomeMessage outcome={outcome} kind="error" onDismiss={dismiss} />

      <div className="columns">
        <LastRunPanel kind="catch-up" run={catchUp} />
        <LastRunPanel kind="verification" run={verification} />
      </div>

      <h3>Findings of the last verification</h3>
      {verification === null ? (
        <p className="muted">No verification has run yet.</p>
      ) : (
        <FindingsTable key={verification.id} run={verification} refetchInterval={refetchInterval} />
      )}
    </section>
  )
}
