import { ApiError } from '../api/client.ts'
import { ActorName, useUserNames } from '../layout/user-names.tsx'
import { compareFields } from './patient-format.ts'
import { Time } from '../layout/time.tsx'
import { ErrorAlert, SyncStateBadge } from './patient-parts.tsx'
import type { Patient, PatientFhirView } from './patient-types.ts'

/** Explains in a sentence an error of `GET /patients/{id}/fhir` whose code the API documents. */
export function fhirViewProblem(error: unknown): string | undefined {
  if (!(error instanceof ApiError)) return undefined
  switch (error.code) {
    case 'NOT_IN_FHIR':
      return 'This patient is not in FHIR yet: the registry has not written it to the FHIR server. It appears here after its first push.'
    case 'FHIR_RESOURCE_GONE':
      return 'The FHIR server no longer has this Patient: it was deleted there or is missing.'
    case 'FHIR_UNAVAILABLE':
      return 'The FHIR server could not be reached or failed, so its side cannot be shown now.'
    default:
      return undefined
  }
}

function Lines({ lines }: { lines: string[] }) {
  if (lines.length === 0) return <span className="muted">none</span>
  if (lines.length === 1) return <>{lines[0]}</>
  return (
    <ul className="plain-list">
      {lines.map((line, index) => (
        <li key={`${String(index)}:${line}`}>{line}</li>
      ))}
    </ul>
  )
}

/** Versions and times of both sides, and the sync state. */
export function VersionPanel({
  patient,
  fhir,
}: {
  patient: Patient
  fhir: PatientFhirView | undefined
}) {
  const userNames = useUserNames([patient.updatedBy])
  return (
    <dl className="version-list" aria-label="Versions">
      <dt>Sync state</dt>
      <dd>
        <SyncStateBadge state={patient.sync.state} />
        {patient.sync.error !== null && (
          <span className="sync-error"> Last push error: {patient.sync.error}</span>
        )}
      </dd>
      <dt>Registry version</dt>
      <dd>{patient.version}</dd>
      <dt>Registry last updated</dt>
      <dd>
        <Time iso={patient.updatedAt} /> by{' '}
        <ActorName actor={patient.updatedBy} names={userNames} />
      </dd>
      <dt>FHIR version the registry last synced</dt>
      <dd>{patient.sync.fhirVersionId ?? <span className="muted">none</span>}</dd>
      <dt>FHIR resource</dt>
      <dd>
        <code>
          {fhir?.reference ?? (patient.sync.fhirId ? `Patient/${patient.sync.fhirId}` : 'none')}
        </code>
      </dd>
      <dt>FHIR version id</dt>
      <dd>{fhir?.versionId ?? <span className="muted">unknown</span>}</dd>
      <dt>FHIR last updated</dt>
      <dd>
        <Time iso={fhir?.lastUpdated ?? null} />
      </dd>
      <dt>FHIR meta.source</dt>
      <dd>{fhir?.source ? <code>{fhir.source}</code> : <span className="muted">none</span>}</dd>
    </dl>
  )
}

/**
 * The registry's fields next to the FHIR resource's mapped fields, one row per field, with the
 * rows that differ marked in words. Without a FHIR resource, a message above the table explains why.
 */
export function FhirComparison({
  patient,
  fhir,
  fhirError,
  fhirLoading,
}: {
  patient: Patient
  fhir: PatientFhirView | undefined
  fhirError: unknown
  fhirLoading: boolean
}) {
  const rows = compareFields(patient, fhir?.mapped ?? patient)
  const explanation = fhirError === null ? undefined : fhirViewProblem(fhirError)

  return (
    <>
      {fhirLoading && <p role="status">Loading the FHIR resource…</p>}
      {fhirError !== null &&
        (explanation === undefined ? (
          <ErrorAlert title="The FHIR resource could not be loaded" error={fhirError} />
        ) : (
          <div className="notice" role="alert">
            <p>{explanation}</p>
            <p className="muted-small">
              {fhirError instanceof ApiError ? `Code ${fhirError.code}` : ''}
              {fhirError instanceof ApiError && fhirError.requestId
                ? `, request ${fhirError.requestId}`
                : ''}
            </p>
          </div>
        ))}
      <div className="patients-scroll">
        <table className="comparison-table">
          <caption>Registry record and FHIR resource, field by field</caption>
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">Registry value</th>
              <th scope="col">FHIR value</th>
              <th scope="col">Comparison</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => {
              const compared = fhir !== undefined
              const differs = compared && row.differs
              return (
                <tr key={row.field} className={differs ? 'diff-changed' : undefined}>
                  <th scope="row">{row.label}</th>
                  <td>
                    <Lines lines={row.registry} />
                  </td>
                  <td>
                    {compared ? (
                      <Lines lines={row.fhir} />
                    ) : (
                      <span className="muted">not available</span>
                    )}
                  </td>
                  <td>
                    {!compared ? (
                      <span className="muted">not compared</span>
                    ) : differs ? (
                      <strong className="differs">differs</strong>
                    ) : (
                      'same'
                    )}
                  </td>
                </tr>
              )
            })}
          </tbody>
        </table>
      </div>
      {fhir !== undefined && (
        <details className="raw-fhir">
          <summary>Raw FHIR JSON of {fhir.reference}</summary>
          <pre tabIndex={0} aria-label={`Raw FHIR JSON of ${fhir.reference}`}>
            {JSON.stringify(fhir.resource, null, 2)}
          </pre>
        </details>
      )}
    </>
  )
}
