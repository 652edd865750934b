import { useQuery } from '@tanstack/react-query'
import { Link, useParams } from 'react-router'
import { ApiError } from '../api/client.ts'
import { PatientAuditTrail } from '../audit/audit-trail.tsx'
import { useApi, useSession } from '../auth/session.tsx'
import { PageHeading } from '../layout/page-heading.tsx'
import { FhirComparison, VersionPanel } from './fhir-comparison.tsx'
import { PatientConditions } from './patient-conditions.tsx'
import { primaryName } from './patient-format.ts'
import { ErrorAlert } from './patient-parts.tsx'
import type { Patient, PatientFhirView } from './patient-types.ts'
import './patients.css'

/** FHIR errors that asking again will not fix, so the query does not retry them. */
const LASTING_FHIR_CODES = new Set(['NOT_IN_FHIR', 'FHIR_RESOURCE_GONE', 'NOT_FOUND'])

function PatientDetails({ patient }: { patient: Patient }) {
  const api = useApi()
  const { hasRole } = useSession()
  const fhir = useQuery({
    queryKey: ['patients', 'fhir', patient.id, patient.version],
    queryFn: () => api.request<PatientFhirView>(`/patients/${patient.id}/fhir`),
    retry: (failureCount, error) =>
      failureCount < 1 && !(error instanceof ApiError && LASTING_FHIR_CODES.has(error.code)),
  })

  return (
    <>
      <section aria-labelledby="versions-heading" className="panel patient-section">
        <h2 id="versions-heading">Versions and sync</h2>
        <VersionPanel patient={patient} fhir={fhir.data} />
        {hasRole('steward') && (
          <p>
            <Link to={`/conflicts?entityId=${patient.id}`}>Open conflicts of this patient</Link>
          </p>
        )}
      </section>

      <section aria-labelledby="comparison-heading" className="patient-section">
        <h2 id="comparison-heading">Registry record and FHIR resource</h2>
        <FhirComparison
          patient={patient}
          fhir={fhir.data}
          fhirError={fhir.error}
          fhirLoading={fhir.isPending}
        />
      </section>

      <section aria-labelledby="conditions-heading" className="patient-section">
        <h2 id="conditions-heading">Conditions</h2>
        <PatientConditions patientId={patient.id} />
      </section>

      <section aria-labelledby="audit-heading" className="patient-section">
        <h2 id="audit-heading">Audit trail</h2>
        <PatientAuditTrail patientId={patient.id} />
      </section>
    </>
  )
}

/** One patient: the registry record next to its current FHIR resource, conditions and audit trail. */
export function PatientPage() {
  const { id = '' } = useParams()
  const api = useApi()
  const query = useQuery({
    queryKey: ['patients', 'one', id],
    queryFn: () => api.request<Patient>(`/patients/${id}`),
  })
  const name = query.data === undefined ? 'Patient' : primaryName(query.data.names)

  return (
    <>
      <title>{`${name} · Brain Registry`}</title>
      <p className="breadcrumb">
        <Link to="/patients">Back to patients</Link>
      </p>
      <PageHeading>{name}</PageHeading>
      {query.data !== undefined && (
        <p className="muted">
          Patient <code>{query.data.id}</code>, source {query.data.source}
        </p>
      )}
      {query.isPending && <p role="status">Loading the patient…</p>}
      {query.isError && <ErrorAlert title="The patient could not be loaded" error={query.error} />}
      {query.data !== undefined && <PatientDetails patient={query.data} />}
    </>
  )
}
