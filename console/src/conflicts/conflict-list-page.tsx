import { PageHeading } from '../layout/page-heading.tsx'

// TODO: placeholder until the page is built.
export function ConflictListPage() {
  return <PageHeading>ConflictListPage</PageHeading>
}
