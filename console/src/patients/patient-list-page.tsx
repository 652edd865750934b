import { PageHeading } from '../layout/page-heading.tsx'

// TODO: placeholder until the page is built.
export function PatientListPage() {
  return <PageHeading>PatientListPage</PageHeading>
}
