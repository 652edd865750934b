import { useQuery } from '@tanstack/react-query'
import { useEffect, useRef, useState } from 'react'
import { NavLink, Outlet, useLocation } from 'react-router'
import { useApi, useSession, type Role } from '../auth/session.tsx'

/** A page of the console and the roles that may open it; the navigation lists only those. */
export interface ConsolePage {
  path: string
  label: string
  roles: readonly Role[]
}

export const PAGES: readonly ConsolePage[] = [
  { path: '/conflicts', label: 'Conflicts', roles: ['steward'] },
  { path: '/patients', label: 'Patients', roles: ['clinician', 'steward'] },
  { path: '/sync', label: 'Sync', roles: ['admin'] },
  { path: '/audit', label: 'Audit log', roles: ['auditor'] },
]

/** Header, navigation and the current page, for a signed-in user. */
export function Shell() {
  const { session, signOut, hasRole, updateRoles } = useSession()
  const api = useApi()
  // Checks the stored token at every page load, at each navigation and every minute: a disabled
  // user or a new password ends the session (the client signs out on the 401), and changed roles
  // apply at once.
  const me = useQuery({
    queryKey: ['auth', 'me'],
    queryFn: () => api.request<{ id: string; roles: Role[] }>('/auth/me'),
    refetchInterval: 60_000,
  })
  useEffect(() => {
    if (me.data !== undefined) updateRoles(me.data.roles)
  }, [me.data, updateRoles])
  // Each navigation reads the roles again too, so a role given or taken away shows in the
  // navigation at the next page the user opens.
  const { pathname } = useLocation()
  const { refetch } = me
  const loaded = useRef(false)
  useEffect(() => {
    // The query itself reads them at the page load.
    if (loaded.current) void refetch()
    loaded.current = true
  }, [pathname, refetch])

  if (session === null) return null
  const pages = PAGES.filter((page) => hasRole(...page.roles))

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to main content
      </a>
      <header className="top-bar">
        <span className="brand">Brain Registry</span>
        <nav aria-label="Main">
          <ul>
            {pages.map((page) => (
              <li key={page.path}>
                <NavLink to={page.path}>{page.label}</NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="user">
          <span>
            {session.username} <span className="muted">({session.roles.join(', ')})</span>
          </span>
          <button type="button" className="secondary" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <SessionEndNotice expiresAt={session.expiresAt} />
        <Outlet />
      </main>
    </>
  )
}

/** How long before the token expires the console starts to warn. */
const WARN_BEFORE_EXPIRY_MS = 2 * 60_000

// TODO: keep unsent input across an expiry, with a sign-in dialog over the page or refresh tokens.
/**
 * Warns in the last two minutes of the token, because the API offers no refresh: once the
 * token expires, the next call returns to the sign-in page and unsent input on the page is lost.
 */
function SessionEndNotice({ expiresAt }: { expiresAt: number }) {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = setInterval(() => {
      setNow(Date.now())
    }, 10_000)
    return () => {
      clearInterval(timer)
    }
  }, [])

  if (expiresAt - now > WARN_BEFORE_EXPIRY_MS) return null
  const endsAt = new Date(expiresAt).toLocaleTimeString()
  return (
    <p role="status" className="notice">
      Your session ends at {endsAt}. Send or copy what you are typing, then sign out and sign in
      again to go on.
    </p>
  )
}
