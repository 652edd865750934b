import { PageHeading } from '../layout/page-heading.tsx'

// TODO: placeholder until the page is built.
export function AuditLogPage() {
  return <PageHeading>AuditLogPage</PageHeading>
}
