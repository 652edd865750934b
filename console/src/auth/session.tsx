import { useQueryClient } from '@tanstack/react-query'
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react'
import { ApiClient, ApiError, problemOf } from '../api/client.ts'

export type Role = 'clinician' | 'steward' | 'auditor' | 'admin'

/** A signed-in user as the console keeps it for the life of the browser tab. */
export interface Session {
  username: string
  token: string
  roles: readonly Role[]
  /** Milliseconds since the epoch at which the token stops working. */
  expiresAt: number
}

interface SessionState {
  session: Session | null
  api: ApiClient | null
  /** Reason the last session ended on its own (an expired or revoked token); null otherwise. */
  endedBecause: string | null
  signIn: (username: string, password: string) => Promise<void>
  signOut: () => void
  /** Takes the roles the API reports now, since an admin may have changed them. */
  updateRoles: (roles: readonly Role[]) => void
  hasRole: (...roles: Role[]) => boolean
}

// sessionStorage, not localStorage: the token dies with the tab and is not shared between tabs
// of different users on a shared workstation.
const STORAGE_KEY = 'brain-registry.session'

const SessionContext = createContext<SessionState | null>(null)

function loadSession(): Session | null {
  const text = sessionStorage.getItem(STORAGE_KEY)
  if (text === null) return null
  try {
    const session = JSON.parse(text) as Session
    return session.expiresAt > Date.now() ? session : null
  } catch {
    return null
  }
}

function sameRoles(left: readonly Role[], right: readonly Role[]): boolean {
  return left.length === right.length && left.every((role) => right.includes(role))
}

/** Holds the signed-in user and the API client that carries their token. */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(loadSession)
  const [endedBecause, setEndedBecause] = useState<string | null>(null)
  const queryClient = useQueryClient()

  const end = useCallback((reason: string | null) => {
    sessionStorage.removeItem(STORAGE_KEY)
    setSession(null)
    setEndedBecause(reason)
  }, [])

  const api = useMemo(
    () =>
      session === null
        ? null
        : new ApiClient(
            session.token,
            (error) => {
              end(`Your session ended (${error.code}). Sign in again to go on.`)
            },
            () => {
              // The navigation follows the roles that /auth/me returns.
              void queryClient.invalidateQueries({ queryKey: ['auth', 'me'] })
            },
          ),
    [session, end, queryClient],
  )

  const signIn = useCallback(async (username: string, password: string) => {
    const response = await fetch('/auth/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ username, password }),
    })
    if (!response.ok) throw new ApiError(await problemOf(response))
    const token = (await response.json()) as {
      access_token: string
      expires_in: number
      roles: Role[]
    }
    const next: Session = {
      username,
      token: token.access_token,
      roles: token.roles,
      expiresAt: Date.now() + token.expires_in * 1000,
    }
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(next))
    setEndedBecause(null)
    setSession(next)
  }, [])

  const value = useMemo<SessionState>(
    () => ({
      session,
      api,
      endedBecause,
      signIn,
      signOut: () => {
        end(null)
      },
      updateRoles: (roles) => {
        if (session === null || sameRoles(session.roles, roles)) return
        const next = { ...session, roles }
        sessionStorage.setItem(STORAGE_KEY, JSON.stringify(next))
        setSession(next)
      },
      hasRole: (...roles) => session !== null && roles.some((role) => session.roles.includes(role)),
    }),
    [session, api, endedBecause, signIn, end],
  )
  return <SessionContext value={value}>{children}</SessionContext>
}

export function useSession(): SessionState {
  const state = useContext(SessionContext)
  if (state === null) throw new Error('useSession must be used inside SessionProvider')
  return state
}

/** The API client of the signed-in user; only pages behind the sign-in use it. */
export function useApi(): ApiClient {
  const { api } = useSession()
  if (api === null) throw new Error('useApi needs a signed-in user')
  return api
}
