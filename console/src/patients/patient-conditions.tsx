import { useQuery } from '@tanstack/react-query'
import { useApi } from '../auth/session.tsx'
import { conditionCodes, conditionDisplay } from './patient-format.ts'
import { ErrorAlert, SyncStateBadge } from './patient-parts.tsx'
import type { ConditionPage } from './patient-types.ts'

/** The API's largest page; a patient with more conditions gets a note below the table. */
const CONDITION_LIMIT = 200

// TODO: show each condition's FHIR side from GET /conditions/{id}/fhir; only the registry's is shown.
/** The patient's conditions with their code, clinical status and sync state. */
export function PatientConditions({ patientId }: { patientId: string }) {
  const api = useApi()
  const query = useQuery({
    queryKey: ['conditions', 'by-patient', patientId],
    queryFn: () =>
      api.request<ConditionPage>('/conditions', {
        query: { patientId, limit: CONDITION_LIMIT },
      }),
  })

  if (query.isPending) return <p role="status">Loading conditions…</p>
  if (query.isError) {
    return <ErrorAlert title="The conditions could not be loaded" error={query.error} />
  }
  if (query.data.items.length === 0) {
    return <p className="muted">This patient has no conditions.</p>
  }
  return (
    <>
      <table>
        <caption>Conditions</caption>
        <thead>
          <tr>
            <th scope="col">Condition</th>
            <th scope="col">Codes</th>
            <th scope="col">Clinical status</th>
            <th scope="col">Sync state</th>
          </tr>
        </thead>
        <tbody>
          {query.data.items.map((condition) => (
            <tr key={condition.id}>
              <th scope="row">
                {conditionDisplay(condition)}
                {!condition.isNeurological && <span className="muted"> (not neurological)</span>}
              </th>
              <td>{conditionCodes(condition).join(', ')}</td>
              <td>{condition.clinicalStatus ?? <span className="muted">none</span>}</td>
              <td>
                <SyncStateBadge state={condition.sync.state} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {query.data.nextCursor !== null && (
        <p className="muted">Only the first {CONDITION_LIMIT} conditions are listed.</p>
      )}
    </>
  )
}
