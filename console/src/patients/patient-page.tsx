import { PageHeading } from '../layout/page-heading.tsx'

// TODO: placeholder until the page is built.
export function PatientPage() {
  return <PageHeading>PatientPage</PageHeading>
}
