import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { useApi, useSession } from '../auth/session.tsx'
import { Pager, useCursorStack } from '../layout/cursor-pager.tsx'
import { ErrorAlert } from '../patients/patient-parts.tsx'
import { AuditTable } from './audit-table.tsx'
import type { AuditPage } from './audit-types.ts'

const PAGE_SIZE = 20

function AuditTrailPages({ patientId }: { patientId: string }) {
  const api = useApi()
  const pages = useCursorStack()
  const query = useQuery({
    queryKey: ['audit', 'patient', patientId, pages.cursor],
    queryFn: () =>
      api.request<AuditPage>('/audit', {
        query: {
          entityType: 'patient',
          entityId: patientId,
          limit: PAGE_SIZE,
          cursor: pages.cursor,
        },
      }),
    placeholderData: keepPreviousData,
  })

  return (
    <>
      {query.isPending && <p role="status">Loading the audit trail…</p>}
      {query.isError && (
        <ErrorAlert title="The audit trail could not be loaded" error={query.error} />
      )}
      {query.isSuccess && query.data.items.length === 0 && (
        <p className="muted">No change of this patient is in the audit log.</p>
      )}
      {query.data !== undefined && query.data.items.length > 0 && (
        <AuditTable
          caption={`Changes of this patient, newest first, page ${String(pages.pageNumber)}`}
          entries={query.data.items}
          showEntity={false}
        />
      )}
      <Pager
        label="Pages of the audit trail"
        pageNumber={pages.pageNumber}
        nextCursor={query.data?.nextCursor}
        loading={query.isPlaceholderData}
        onNext={pages.next}
        onPrevious={pages.previous}
      />
    </>
  )
}

/**
 * The patient's changes from the audit log, for auditors. Other users see why it is missing,
 * because the API lets only the auditor role read the log.
 */
export function PatientAuditTrail({ patientId }: { patientId: string }) {
  const { hasRole } = useSession()
  if (!hasRole('auditor')) {
    return <p className="notice">The audit trail needs the auditor role.</p>
  }
  return <AuditTrailPages patientId={patientId} />
}
