import { useQuery, useQueryClient } from '@tanstack/react-query'
import { useEffect, useRef, useState } from 'react'
import { Link, useLocation, useParams } from 'react-router'
import { ApiError } from '../api/client.ts'
import { useApi } from '../auth/session.tsx'
import { PageHeading } from '../layout/page-heading.tsx'
import { ActorName, useUserNames } from '../layout/user-names.tsx'
import { ConflictActions } from './conflict-actions.tsx'
import { describeResolution, partLabel } from './conflict-messages.ts'
import { Time } from '../layout/time.tsx'
import { EntityReference, ProblemAlert, StatusBadge } from './conflict-parts.tsx'
import { DELETION_FIELD, type ConflictDetail } from './conflict-types.ts'
import { ValueComparison } from './value-comparison.tsx'
import './conflicts.css'

/** What the last decision on this page led to: a success sentence or the API's error. */
type Outcome = { kind: 'success'; message: string } | { kind: 'error'; error: unknown }

function SideValue({ value, deletion }: { value: unknown; deletion: boolean }) {
  if (value === null || value === undefined) {
    return <p className="muted">{deletion ? 'Deleted on this side' : 'Absent on this side'}</p>
  }
  return <pre className="side-json">{JSON.stringify(value, null, 2)}</pre>
}

function SidePanels({ conflict }: { conflict: ConflictDetail }) {
  const deletion = conflict.field === DELETION_FIELD
  return (
    <div className="columns side-panels">
      <section className="panel" aria-labelledby="side-base">
        <h3 id="side-base">Base</h3>
        <p className="muted">The value both sides last agreed on.</p>
        <SideValue value={conflict.baseValue} deletion={false} />
      </section>
      <section className="panel" aria-labelledby="side-registry">
        <h3 id="side-registry">Registry</h3>
        <dl className="facts">
          <dt>Version</dt>
          <dd>{conflict.registryVersion}</dd>
          <dt>Updated</dt>
          <dd>
            <Time iso={conflict.registryUpdatedAt} />
          </dd>
        </dl>
        <SideValue value={conflict.registryValue} deletion={deletion} />
      </section>
      <section className="panel" aria-labelledby="side-fhir">
        <h3 id="side-fhir">FHIR</h3>
        <dl className="facts">
          <dt>Version id</dt>
          <dd>{conflict.fhirVersionId}</dd>
          <dt>Updated</dt>
          <dd>
            <Time iso={conflict.fhirUpdatedAt} />
          </dd>
        </dl>
        <SideValue value={conflict.fhirValue} deletion={deletion} />
      </section>
    </div>
  )
}

function Summary({ conflict }: { conflict: ConflictDetail }) {
  const entity = conflict.entity
  return (
    <dl className="facts summary">
      <dt>Status</dt>
      <dd>
        <StatusBadge status={conflict.status} />
      </dd>
      <dt>Entity</dt>
      <dd>
        <EntityReference type={conflict.entityType} id={conflict.entityId} />
      </dd>
      <dt>Field</dt>
      <dd>
        <code>{partLabel(conflict)}</code>
      </dd>
      <dt>Entity now</dt>
      <dd>
        {entity === null ? (
          'missing'
        ) : (
          <>
            version {entity.version}, sync state {entity.syncState}
            {entity.deleted ? ', deleted' : ', not deleted'}
          </>
        )}
      </dd>
      <dt>Created</dt>
      <dd>
        <Time iso={conflict.createdAt} />
      </dd>
    </dl>
  )
}

function Resolution({ conflict }: { conflict: ConflictDetail }) {
  const userNames = useUserNames(conflict.resolvedBy === null ? [] : [conflict.resolvedBy])
  return (
    <section className="panel" aria-labelledby="resolution-heading">
      <h2 id="resolution-heading">
        {conflict.status === 'dismissed' ? 'Dismissal' : 'Resolution'}
      </h2>
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={conflict.status} />
        </dd>
        <dt>Resolution</dt>
        <dd>{describeResolution(conflict.resolution)}</dd>
        <dt>By</dt>
        <dd>
          {conflict.resolvedBy === null ? (
            <span className="muted">the merge</span>
          ) : (
            <ActorName actor={conflict.resolvedBy} names={userNames} />
          )}
        </dd>
        <dt>At</dt>
        <dd>
          <Time iso={conflict.resolvedAt} />
        </dd>
        <dt>Resolved value</dt>
        <dd>
          {conflict.status === 'dismissed' ? (
            <span className="muted">none; the registry value stays</span>
          ) : (
            <pre className="side-json">
              {JSON.stringify(conflict.resolvedValue ?? null, null, 2)}
            </pre>
          )}
        </dd>
        <dt>Reason</dt>
        <dd>{conflict.resolutionReason ?? <span className="muted">none given</span>}</dd>
      </dl>
    </section>
  )
}

/**
 * One conflict: its values side by side with the differences marked, both versions, the entity as
 * it is now, and the steward's decisions while it is open. After a failed decision the conflict
 * is read again, since a 409 means someone or something changed it.
 */
export function ConflictPage() {
  const { id = '' } = useParams()
  const api = useApi()
  const queryClient = useQueryClient()
  const location = useLocation()
  const queueSearch = (location.state as { queueSearch?: string } | null)?.queueSearch ?? ''
  const [outcome, setOutcome] = useState<Outcome | null>(null)
  const outcomeRef = useRef<HTMLDivElement>(null)

  const query = useQuery({
    queryKey: ['conflicts', 'detail', id],
    queryFn: () => api.request<ConflictDetail>(`/conflicts/${encodeURIComponent(id)}`),
  })

  // The button that was pressed is gone once the conflict closes, so focus moves to the outcome.
  useEffect(() => {
    if (outcome !== null) outcomeRef.current?.focus()
  }, [outcome])

  const refresh = async () => {
    await queryClient.invalidateQueries({ queryKey: ['conflicts'] })
  }

  const conflict = query.data
  const title = conflict === undefined ? 'Conflict' : `Conflict on ${partLabel(conflict)}`
  const backLink = (
    <Link to={{ pathname: '/conflicts', search: queueSearch }}>Back to the conflict queue</Link>
  )

  return (
    <>
      <title>{`${title} · Brain Registry`}</title>
      <p className="breadcrumb">{backLink}</p>
      <PageHeading>{title}</PageHeading>

      <div ref={outcomeRef} tabIndex={-1} className="outcome">
        <div role="status">
          {outcome?.kind === 'success' && (
            <div className="success">
              <p>
                {outcome.message} The change is queued for pushing to FHIR. {backLink}
              </p>
            </div>
          )}
        </div>
        {outcome?.kind === 'error' && <ProblemAlert error={outcome.error} />}
      </div>

      {query.isPending && <p role="status">Loading the conflict…</p>}
      {query.isError &&
        (query.error instanceof ApiError && query.error.status === 404 ? (
          <p className="notice" role="alert">
            There is no conflict with id <code>{id}</code>. {backLink}
          </p>
        ) : (
          <ProblemAlert error={query.error} title="The conflict could not be loaded" />
        ))}

      {conflict !== undefined && (
        <>
          <Summary conflict={conflict} />
          {query.isFetching && <p className="muted">Reloading…</p>}
          {conflict.field === DELETION_FIELD && (
            <p className="notice">
              One side deleted this {conflict.entityType} while the other edited it. The values are
              its whole fields, and a deleted side has none.
            </p>
          )}
          <h2>Values</h2>
          <ValueComparison
            base={conflict.baseValue}
            registry={conflict.registryValue}
            fhir={conflict.fhirValue}
            fieldLabel={partLabel(conflict)}
          />
          <SidePanels conflict={conflict} />
          {conflict.status === 'open' ? (
            <ConflictActions
              key={`${conflict.id}:${conflict.updatedAt}`}
              conflict={conflict}
              onSettled={(settled, message) => {
                queryClient.setQueryData(['conflicts', 'detail', id], settled)
                setOutcome({ kind: 'success', message })
                void refresh()
              }}
              onFailed={(error) => {
                setOutcome({ kind: 'error', error })
                void refresh()
              }}
            />
          ) : (
            <Resolution conflict={conflict} />
          )}
        </>
      )}
    </>
  )
}
