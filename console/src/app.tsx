import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { BrowserRouter, Route, Routes } from 'react-router'
import { AuditLogPage } from './audit/audit-log-page.tsx'
import { HomeRedirect, RequireRole, RequireSession } from './auth/require-role.tsx'
import { SessionProvider } from './auth/session.tsx'
import { SignInPage } from './auth/sign-in-page.tsx'
import { ConflictListPage } from './conflicts/conflict-list-page.tsx'
import { ConflictPage } from './conflicts/conflict-page.tsx'
import { NotFoundPage } from './layout/not-found-page.tsx'
import { Shell } from './layout/shell.tsx'
import { PatientListPage } from './patients/patient-list-page.tsx'
import { PatientPage } from './patients/patient-page.tsx'
import { SyncDashboardPage } from './sync/sync-dashboard-page.tsx'

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A 4xx will not change by asking again; a network failure or a 5xx may.
      retry: (failureCount, error) =>
        failureCount < 2 && !('status' in error && Number(error.status) < 500),
      refetchOnWindowFocus: true,
    },
  },
})

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <SessionProvider>
        <BrowserRouter basename="/console">
          <Routes>
            <Route path="/sign-in" element={<SignInPage />} />
            <Route
              element={
                <RequireSession>
                  <Shell />
                </RequireSession>
              }
            >
              <Route index element={<HomeRedirect />} />
              <Route
                path="conflicts"
                element={
                  <RequireRole roles={['steward']}>
                    <ConflictListPage />
                  </RequireRole>
                }
              />
              <Route
                path="conflicts/:id"
                element={
                  <RequireRole roles={['steward']}>
                    <ConflictPage />
                  </RequireRole>
                }
              />
              <Route
                path="patients"
                element={
                  <RequireRole roles={['clinician', 'steward']}>
                    <PatientListPage />
                  </RequireRole>
                }
              />
              <Route
                path="patients/:id"
                element={
                  <RequireRole roles={['clinician', 'steward']}>
                    <PatientPage />
                  </RequireRole>
                }
              />
              <Route
                path="sync"
                element={
                  <RequireRole roles={['admin']}>
                    <SyncDashboardPage />
                  </RequireRole>
                }
              />
              <Route
                path="audit"
                element={
                  <RequireRole roles={['auditor']}>
                    <AuditLogPage />
                  </RequireRole>
                }
              />
              <Route path="*" element={<NotFoundPage />} />
            </Route>
          </Routes>
        </BrowserRouter>
      </SessionProvider>
    </QueryClientProvider>
  )
}
