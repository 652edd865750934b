import { Link } from 'react-router'
import { PageHeading } from './page-heading.tsx'

export function NotFoundPage() {
  return (
    <>
      <title>Page not found · Brain Registry</title>
      <PageHeading>Page not found</PageHeading>
      <p>
        The console has no page at this address. <Link to="/">Go to the start page</Link>.
      </p>
    </>
  )
}
