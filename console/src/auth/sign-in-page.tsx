import { useState } from 'react'
import { Navigate, useLocation } from 'react-router'
import { describeError } from '../api/client.ts'
import { PageHeading } from '../layout/page-heading.tsx'
import { useSession } from './session.tsx'

/** Sign-in with a registry user's name and password (POST /auth/token). */
export function SignInPage() {
  const { session, signIn, endedBecause } = useSession()
  const location = useLocation()
  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const from = (location.state as { from?: string } | null)?.from ?? '/'
  if (session !== null) return <Navigate to={from} replace />

  const submit = async () => {
    setBusy(true)
    setError(null)
    try {
      await signIn(username.trim(), password)
    } catch (caught) {
      setError(describeError(caught))
      setPassword('')
    } finally {
      setBusy(false)
    }
  }

  return (
    <main id="main" className="sign-in">
      <title>Sign in · Brain Registry</title>
      <PageHeading>Brain Registry console</PageHeading>
      <p>Sign in with your registry user.</p>
      {endedBecause !== null && (
        <p className="notice" role="status">
          {endedBecause}
        </p>
      )}
      <form
        className="stack"
        onSubmit={(event) => {
          event.preventDefault()
          void submit()
        }}
      >
        <label htmlFor="username">Username</label>
        <input
          id="username"
          name="username"
          autoComplete="username"
          required
          value={username}
          onChange={(event) => {
            setUsername(event.target.value)
          }}
        />
        <label htmlFor="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(event) => {
            setPassword(event.target.value)
          }}
        />
        {error !== null && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  )
}
