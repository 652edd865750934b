import type { Patient as FhirPatient } from '@medplum/fhirtypes'
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Patient } from '../src/patients/patient.schemas.ts'
import type { DriftFinding, DriftRun } from '../src/sync/drift.schemas.ts'
import { launchChromium, saveScreenshot } from './browser/chromium.ts'
import { buildConsole } from './browser/console-build.ts'
import {
  createConsoleUser,
  expectNoAccessibilityViolations,
  signIn,
  type ConsoleUser,
} from './browser/console-session.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'
import { clash, createSynced, patientInput, readFhir } from './merge-fixtures.ts'

/**
 * Holds the `_id` searches with which a drift verification reads HAPI while `verificationReads`
 * is set, so that a run stays `running` long enough to be seen and to meet a second request.
 * Every other request reaches the real HAPI at once.
 */
let verificationReads: Promise<void> | undefined

const gatedFetch: typeof fetch = async (input, init) => {
  const url = input instanceof Request ? input.url : String(input)
  if (verificationReads && (init?.method ?? 'GET') === 'GET' && url.includes('_id=')) {
    await verificationReads
  }
  return fetch(input, init)
}

/** Sets the gate and returns the function that opens it again. */
function holdVerificationReads(): () => void {
  let release = () => {}
  verificationReads = new Promise((resolve) => {
    release = resolve
  })
  return () => {
    verificationReads = undefined
    release()
  }
}

let test: TestRegistry
let browser: Browser
let context: BrowserContext
let page: Page
let admin: ConsoleUser

beforeAll(async () => {
  await buildConsole()
  // A held verification read must not time out in the FHIR client meanwhile.
  test = await startTestRegistry(
    'console_sync',
    { FHIR_TIMEOUT_MS: '60000' },
    { fetch: gatedFetch },
  )
  browser = await launchChromium()
  admin = await createConsoleUser(test, ['admin'])
})

afterAll(async () => {
  await browser.close()
  await test.stop()
})

/** The parts of GET /sync/status that the page shows and these tests compare. */
interface StatusBody {
  queues: Record<string, { ready: number; deferred: number; active: number }>
  deadLetters: Record<string, number>
  rows: Record<string, { pending: number; conflict: number; failed: number }>
  notifications: { unprocessed: number; parked: number }
  subscriptions: { items: { resourceType: string; id: string; status: string }[] }
}

async function syncStatus(): Promise<StatusBody> {
  const response = await test.api('GET', '/sync/status')
  expect(response.status).toBe(200)
  return (await response.json()) as StatusBody
}

async function failedIds(): Promise<string[]> {
  const response = await test.api('GET', '/sync/failed?limit=200')
  expect(response.status).toBe(200)
  return ((await response.json()) as { items: { id: string }[] }).items.map((item) => item.id)
}

interface FailedItem {
  id: string
  fhirId: string | null
  error: string | null
  attempts: number
}

async function failedItem(id: string): Promise<FailedItem | undefined> {
  const response = await test.api('GET', '/sync/failed?entityType=patient&limit=200')
  expect(response.status).toBe(200)
  return ((await response.json()) as { items: FailedItem[] }).items.find((item) => item.id === id)
}

async function syncOf(id: string): Promise<Patient['sync']> {
  const response = await test.api('GET', `/patients/${id}`)
  expect(response.status).toBe(200)
  return ((await response.json()) as Patient).sync
}

/** Reads the texts of a table row's data cells, finding the row by its name. */
async function cellsOf(table: Locator, rowName: string): Promise<string[]> {
  const row = table.getByRole('row', { name: rowName, exact: false }).first()
  return (await row.getByRole('cell').allTextContents()).map((text) => text.trim())
}

/** Reads the figures the page shows for queues, dead letters, rows and the inbox. */
async function figuresOnPage(): Promise<Omit<StatusBody, 'subscriptions'>> {
  const queues = page.getByRole('table', { name: 'Work queues' })
  const deadLetters = page.getByRole('table', { name: 'Dead letters' })
  const rows = page.getByRole('table', { name: 'Rows not synced' })
  const inbox = await page
    .getByRole('table', { name: 'Notification inbox' })
    .getByRole('cell')
    .allTextContents()
  const queue = async (label: string) => {
    const [ready, deferred, active] = await cellsOf(queues, label)
    return { ready: Number(ready), deferred: Number(deferred), active: Number(active) }
  }
  const states = async (label: string) => {
    const [pending, conflict, failed] = await cellsOf(rows, label)
    return { pending: Number(pending), conflict: Number(conflict), failed: Number(failed) }
  }
  const deadLetterNames = await deadLetters.getByRole('rowheader').allTextContents()
  const deadLetterCounts: Record<string, number> = {}
  for (const name of deadLetterNames) {
    deadLetterCounts[name] = Number((await cellsOf(deadLetters, name))[0])
  }
  return {
    queues: {
      push: await queue('Push (fhir-push)'),
      merge: await queue('Merge (fhir-merge)'),
      drift: await queue('Drift (sync-drift)'),
    },
    deadLetters: deadLetterCounts,
    rows: { patients: await states('Patients'), conditions: await states('Conditions') },
    notifications: { unprocessed: Number(inbox[0]), parked: Number(inbox[1]) },
  }
}

function figuresOf(status: StatusBody): Omit<StatusBody, 'subscriptions'> {
  const depth = (name: string) => {
    const { ready = 0, deferred = 0, active = 0 } = status.queues[name] ?? {}
    return { ready, deferred, active }
  }
  const states = (name: string) => {
    const { pending = 0, conflict = 0, failed = 0 } = status.rows[name] ?? {}
    return { pending, conflict, failed }
  }
  return {
    queues: { push: depth('push'), merge: depth('merge'), drift: depth('drift') },
    deadLetters: status.deadLetters,
    rows: { patients: states('patients'), conditions: states('conditions') },
    notifications: {
      unprocessed: status.notifications.unprocessed,
      parked: status.notifications.parked,
    },
  }
}

/**
 * Makes a patient whose push HAPI rejects for real: the row gets a birth date HAPI cannot parse
 * behind the API's back, as a bad import would leave it, and a clinician's edit pushes it.
 */
async function createFailedPatient(): Promise<Patient> {
  const patient = await createSynced(
    test,
    'patient',
    patientInput({ names: [{ use: 'official', family: `Failed-${crypto.randomUUID()}` }] }),
  )
  await test.registry.db
    .updateTable('patients')
    .set({ birth_date: '1937-13-45' })
    .where('id', '=', patient.id)
    .execute()
  const edited = await test.api(
    'PATCH',
    `/patients/${patient.id}`,
    { gender: 'other' },
    { 'If-Match': `"${patient.version}"` },
  )
  expect(edited.status).toBe(200)
  await waitFor(`patient ${patient.id} failed`, async () =>
    (await syncOf(patient.id)).state === 'failed' ? true : undefined,
  )
  return patient
}

/** Corrects the birth date HAPI rejected, as an engineer fixing the import would, without a push. */
async function correctBirthDate(id: string): Promise<void> {
  await test.registry.db
    .updateTable('patients')
    .set({ birth_date: '1937-12-05' })
    .where('id', '=', id)
    .execute()
}

function failedTable(): Locator {
  return page.getByRole('table', { name: /push failed for good/ })
}

function failedSection(): Locator {
  return page.getByRole('region', { name: 'Failed entities' })
}

describe('console sync dashboard', () => {
  beforeAll(async () => {
    context = await browser.newContext({ viewport: { width: 1366, height: 768 } })
    page = await context.newPage()
  })

  afterAll(async () => {
    await context.close()
  })

  it('shows real queue figures and Subscriptions', async () => {
    const synced = await createSynced(test, 'patient', patientInput())
    await clash(
      test,
      'patient',
      synced,
      (resource) => {
        resource.birthDate = '1971-02-02'
      },
      { birthDate: '1972-03-03' },
    )
    await waitFor('birth date conflict open', async () =>
      ((await syncStatus()).rows.patients?.conflict ?? 0) >= 1 ? true : undefined,
    )

    await signIn(page, test.url, admin)
    await page.goto(`${test.url}/console/sync`)
    await page.getByRole('heading', { name: 'Sync', level: 1 }).waitFor()
    await page.getByRole('table', { name: 'Work queues' }).waitFor()

    // Both sides change while jobs run, so the page must catch up with one API reading.
    const { shown, status } = await waitFor('the page shows the API figures', async () => {
      const current = await syncStatus()
      const onPage = await figuresOnPage()
      return JSON.stringify(onPage) === JSON.stringify(figuresOf(current))
        ? { shown: onPage, status: current }
        : undefined
    })
    expect(shown.rows.patients?.conflict).toBeGreaterThanOrEqual(1)
    expect(
      await cellsOf(page.getByRole('table', { name: 'Rows not synced' }), 'Patients'),
    ).toContain('Open conflicts')
    expect(await page.getByText(/^Updated at \d\d:\d\d:\d\d/).count()).toBe(1)

    const subscriptions = page.getByRole('table', { name: /Subscriptions as HAPI reports them/ })
    expect(status.subscriptions.items.map((item) => item.status)).toEqual(['active', 'active'])
    for (const item of status.subscriptions.items) {
      const cells = await cellsOf(subscriptions, item.resourceType)
      expect(cells.slice(0, 2)).toEqual([item.id, 'Active'])
    }
    const modes = page.getByRole('region', { name: 'Sync modes' })
    expect(await modes.textContent()).toContain('Patienttwo-way, by subscription')
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'sync-dashboard')

    await page.getByRole('button', { name: 'Register Subscriptions again' }).click()
    const registered = page
      .getByRole('region', { name: 'Subscriptions' })
      .getByRole('status')
      .getByText(/^Subscriptions registered/)
    await registered.waitFor({ timeout: 60_000 })
    expect(await registered.textContent()).toBe(
      'Subscriptions registered: Patient active, Condition active.',
    )
    await page
      .getByRole('region', { name: 'Subscriptions' })
      .getByRole('button', { name: 'Dismiss' })
      .click()
    await registered.waitFor({ state: 'detached' })
    expect((await syncStatus()).subscriptions.items.map((item) => item.status)).toEqual([
      'active',
      'active',
    ])
  })

  it('pauses auto-refresh and refreshes on request', async () => {
    const toggle = page.getByRole('checkbox', { name: 'Auto-refresh every 5 s' })
    await toggle.uncheck()
    try {
      const failedBefore = (await syncStatus()).rows.patients?.failed ?? 0
      const failed = await createFailedPatient()
      // Longer than one refresh interval: a page still refreshing would show the new row by now.
      await new Promise((resolve) => setTimeout(resolve, 7_000))
      const rows = page.getByRole('table', { name: 'Rows not synced' })
      expect((await cellsOf(rows, 'Patients'))[2]).toBe(String(failedBefore))

      await page.getByRole('button', { name: 'Refresh now' }).click()
      await expect
        .poll(async () => (await cellsOf(rows, 'Patients'))[2])
        .toBe(String(failedBefore + 1))
      await expect.poll(() => failedTable().getByRole('row', { name: failed.id }).count()).toBe(1)
      await correctBirthDate(failed.id)
      const replayed = await test.api('POST', `/sync/failed/patient/${failed.id}/replay`)
      expect(replayed.status).toBe(202)
    } finally {
      await toggle.check()
    }
  })

  it('lists a real failed push and replays it', async () => {
    // Marks the document, so that the checks below can tell that it was never loaded again.
    await page.evaluate("document.documentElement.dataset.loadedOnce = 'yes'")
    const patient = await createFailedPatient()
    const failed = await failedItem(patient.id)
    expect(failed?.error).toContain('400')

    const row = failedTable().getByRole('row', { name: patient.id })
    await row.waitFor()
    const cells = (await row.getByRole('cell').allTextContents()).map((text) => text.trim())
    expect(cells.slice(0, 5)).toEqual([
      'patient',
      patient.id,
      failed?.fhirId,
      failed?.error,
      String(failed?.attempts),
    ])
    expect(await row.getByRole('link', { name: patient.id }).getAttribute('href')).toBe(
      `/console/patients/${patient.id}`,
    )
    expect(await page.evaluate('document.documentElement.dataset.loadedOnce')).toBe('yes')
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'sync-failed-entity')

    await correctBirthDate(patient.id)
    await row.getByRole('button', { name: `Replay patient ${patient.id}` }).click()

    const message = failedSection()
      .getByRole('status')
      .getByText(/^Replay queued/)
    await message.waitFor()
    expect(await message.textContent()).toContain(`patient ${patient.id}`)
    await waitFor(`patient ${patient.id} synced`, async () =>
      (await syncOf(patient.id)).state === 'synced' ? true : undefined,
    )
    expect(await failedIds()).not.toContain(patient.id)
    const stored = await readFhir(test, 'patient', patient.id)
    expect(stored.birthDate).toBe('1937-12-05')
    expect(stored.gender).toBe('other')
    await row.waitFor({ state: 'detached' })
    await saveScreenshot(page, 'sync-failed-replayed')
  })

  it('reports a row replayed elsewhere', async () => {
    const patient = await createFailedPatient()
    const row = failedTable().getByRole('row', { name: patient.id })
    await row.waitFor()
    const toggle = page.getByRole('checkbox', { name: 'Auto-refresh every 5 s' })
    // Paused, so the row stays on screen after the other admin's replay, as between two refreshes.
    await toggle.uncheck()
    try {
      await correctBirthDate(patient.id)
      const other = await test.api('POST', `/sync/failed/patient/${patient.id}/replay`)
      expect(other.status).toBe(202)

      await row.getByRole('button', { name: `Replay patient ${patient.id}` }).click()

      const alert = failedSection().getByRole('alert')
      await alert.waitFor()
      expect(await alert.textContent()).toContain('ENTITY_NOT_FAILED')
      expect(await alert.textContent()).toContain('no longer failed')
      await row.waitFor({ state: 'detached' })
      await expectNoAccessibilityViolations(page)
      await saveScreenshot(page, 'sync-replay-conflict')
    } finally {
      await toggle.check()
    }
  })

  it('replays all failed rows of one type', async () => {
    const patients = [await createFailedPatient(), await createFailedPatient()]
    const section = failedSection()
    await section.getByLabel('Entity type').selectOption('patient')
    for (const patient of patients) {
      await failedTable().getByRole('row', { name: patient.id }).waitFor()
      await correctBirthDate(patient.id)
    }

    await section.getByRole('button', { name: 'Replay all failed patients' }).click()

    const message = section.getByRole('status').getByText(/^Replay queued for \d+ failed patient/)
    await message.waitFor()
    const replayed = Number(/for (\d+)/.exec((await message.textContent()) ?? '')?.[1])
    expect(replayed).toBeGreaterThanOrEqual(patients.length)
    for (const patient of patients) {
      await waitFor(`patient ${patient.id} synced`, async () =>
        (await syncOf(patient.id)).state === 'synced' ? true : undefined,
      )
    }
    expect(await failedIds()).toEqual([])
    await section.getByText('No failed patients.').waitFor()
    await expectNoAccessibilityViolations(page)
    await section.getByLabel('Entity type').selectOption('')
  })

  it('starts a verification run and lists its findings', async () => {
    const drifted = await createSynced(test, 'patient', patientInput({ gender: 'female' }))
    // Behind the registry's back: no version bump, no push, no notification.
    await test.registry.db
      .updateTable('patients')
      .set({ gender: 'male' })
      .where('id', '=', drifted.id)
      .execute()
    const drift = page.getByRole('region', { name: 'Drift' })
    const lastVerification = page.getByRole('region', { name: 'Last verification run' })
    const release = holdVerificationReads()
    try {
      await drift.getByRole('button', { name: 'Start verification now' }).click()
      const queued = drift.getByRole('status').getByText(/^Verification run queued/)
      await queued.waitFor()
      const runId = /\(([0-9a-f-]{36})\)/.exec((await queued.textContent()) ?? '')?.[1] ?? ''
      await lastVerification.getByText(runId).waitFor()
      await lastVerification.getByText('running', { exact: true }).waitFor()
      await saveScreenshot(page, 'sync-drift-running')

      await drift.getByRole('button', { name: 'Start verification now' }).click()
      const alert = drift.getByRole('alert')
      await alert.waitFor()
      expect(await alert.textContent()).toContain('DRIFT_RUN_ACTIVE')
      expect(await alert.textContent()).toContain(runId)
      await expectNoAccessibilityViolations(page)
      release()

      await lastVerification.getByText('finished', { exact: true }).waitFor({ timeout: 60_000 })
      const run = (await (await test.api('GET', `/sync/drift/runs/${runId}`)).json()) as DriftRun
      expect(run.status).toBe('finished')
      const counts = await lastVerification.getByRole('listitem').allTextContents()
      expect(counts).toContain(`findings ${String(run.counts.findings)}`)
      expect(counts).toContain(`checked ${String(run.counts.checked)}`)

      const findings = (await (
        await test.api('GET', `/sync/drift/runs/${runId}/findings?limit=200`)
      ).json()) as { items: DriftFinding[] }
      const finding = findings.items.find((item) => item.entityId === drifted.id)
      expect(finding).toMatchObject({ kind: 'diverged', fields: ['gender'], action: 'push' })
      const findingRow = drift
        .getByRole('table', { name: /Findings of the verification run/ })
        .getByRole('row', { name: drifted.id })
      const findingCells = (await findingRow.getByRole('cell').allTextContents()).map((text) =>
        text.trim(),
      )
      expect(findingCells).toEqual([
        `patient ${drifted.id}`,
        drifted.id,
        'diverged',
        'gender',
        `${String(finding?.registryFhirVersionId)} / ${String(finding?.fhirVersionId)}`,
        'push',
      ])
      await expectNoAccessibilityViolations(page)
      await saveScreenshot(page, 'sync-drift-findings')
    } finally {
      release()
    }
    await waitFor('registry gender pushed to HAPI', async () => {
      const stored: FhirPatient = await readFhir(test, 'patient', drifted.id)
      return stored.gender === 'male' ? true : undefined
    })
  })

  it('keeps the last figures when a refresh fails', async () => {
    const rows = page.getByRole('table', { name: 'Rows not synced' })
    const shownBefore = await cellsOf(rows, 'Patients')
    // The browser loses its connection to the API for the status reads only.
    await page.route('**/sync/status', (route) => route.abort('connectionrefused'))

    const alert = page.getByRole('alert').filter({ hasText: 'The last refresh failed' })
    await alert.waitFor()
    expect(await alert.textContent()).toContain('could not be reached')
    expect(await cellsOf(rows, 'Patients')).toEqual(shownBefore)
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'sync-refresh-failed')

    await page.unroute('**/sync/status')
    await alert.waitFor({ state: 'detached' })
  })

  it('leaves the page when the admin role is taken away', async () => {
    const operator = await test.authorizationFor(['admin'])
    // The API checks roles on every request, so the next refresh with this token gets 403, and
    // the console reads the roles again.
    const demoted = await test.api(
      'PATCH',
      `/users/${admin.id}`,
      { roles: ['steward'] },
      { Authorization: operator },
    )
    expect(demoted.status).toBe(200)

    await page.getByRole('heading', { name: 'Not allowed', level: 1 }).waitFor()
    const nav = page.getByRole('navigation', { name: 'Main' })
    expect(await nav.getByRole('link').allTextContents()).toEqual(['Conflicts', 'Patients'])
  })

  it('shows a steward that the page is not allowed', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click()
    const steward = await createConsoleUser(test, ['steward'])
    await signIn(page, test.url, steward)

    await page.goto(`${test.url}/console/sync`)
    await page.getByRole('heading', { name: 'Not allowed', level: 1 }).waitFor()

    expect(await page.getByRole('heading', { name: 'Queues' }).count()).toBe(0)
    expect(await page.getByRole('table').count()).toBe(0)
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'sync-steward-not-allowed')
  })
})
