import type { ReactNode } from 'react'
import { Navigate, useLocation } from 'react-router'
import { PageHeading } from '../layout/page-heading.tsx'
import { PAGES } from '../layout/shell.tsx'
import { useSession, type Role } from './session.tsx'

/** Sends a visitor without a session to the sign-in page, and back here afterwards. */
export function RequireSession({ children }: { children: ReactNode }) {
  const { session } = useSession()
  const location = useLocation()
  if (session === null) {
    return <Navigate to="/sign-in" replace state={{ from: location.pathname + location.search }} />
  }
  return children
}

/** Shows the page only to users holding one of `roles`; the API checks the same roles again. */
export function RequireRole({ roles, children }: { roles: readonly Role[]; children: ReactNode }) {
  const { hasRole } = useSession()
  if (hasRole(...roles)) return children
  return (
    <>
      <title>Not allowed · Brain Registry</title>
      <PageHeading>Not allowed</PageHeading>
      <p>This page needs the role {roles.join(' or ')}, which your user does not hold.</p>
    </>
  )
}

/** Opens the first page the user may see. */
export function HomeRedirect() {
  const { hasRole } = useSession()
  const first = PAGES.find((page) => hasRole(...page.roles))
  if (first !== undefined) return <Navigate to={first.path} replace />
  return (
    <>
      <title>Brain Registry</title>
      <PageHeading>No pages for your roles</PageHeading>
      <p>Your user holds no role that a page of this console needs. Ask an admin for one.</p>
    </>
  )
}
