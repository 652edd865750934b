import type { Condition as FhirCondition, Patient as FhirPatient } from '@medplum/fhirtypes'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Condition } from '../src/conditions/condition.schemas.ts'
import type { Conflict, ConflictDetail } from '../src/conflicts/conflict.schemas.ts'
import { FhirRequestError } from '../src/fhir/fhir-client.ts'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { launchChromium, saveScreenshot } from './browser/chromium.ts'
import { buildConsole } from './browser/console-build.ts'
import {
  createConsoleUser,
  expectNoAccessibilityViolations,
  signIn,
  type ConsoleUser,
} from './browser/console-session.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'

let test: TestRegistry
let browser: Browser
let context: BrowserContext
let page: Page
let steward: ConsoleUser

const EPILEPSY = { system: 'http://snomed.info/sct', code: '84757009', display: 'Epilepsy' }
const VERIFICATION_STATUS = 'http://terminology.hl7.org/CodeSystem/condition-ver-status'

beforeAll(async () => {
  await buildConsole()
  // Telecom and gender are last-writer-wins by default, so whether two quick edits clash would
  // depend on the clock-skew window. As manual fields, their conflicts do not depend on timing.
  test = await startTestRegistry('console_conflicts', {
    MERGE_RULES: 'patient.telecom=manual,patient.gender=manual',
  })
  browser = await launchChromium()
  context = await browser.newContext({ viewport: { width: 1366, height: 768 } })
  page = await context.newPage()
  steward = await createConsoleUser(test, ['steward'])
  await signIn(page, test.url, steward)
})

afterAll(async () => {
  await context.close()
  await browser.close()
  await test.stop()
})

async function json<T>(response: Response, status: number): Promise<T> {
  const body = (await response.json()) as T
  expect(response.status, JSON.stringify(body)).toBe(status)
  return body
}

async function getPatient(id: string): Promise<Patient> {
  return json<Patient>(await test.api('GET', `/patients/${id}`), 200)
}

async function getConflict(id: string): Promise<ConflictDetail> {
  return json<ConflictDetail>(await test.api('GET', `/conflicts/${id}`), 200)
}

async function createSyncedPatient(fields: Record<string, unknown>): Promise<Patient> {
  const created = await json<Patient>(
    await test.api('POST', '/patients', {
      names: [{ use: 'official', family: 'Varga', given: ['Ilona'] }],
      birthDate: '1970-01-01',
      gender: 'female',
      ...fields,
    }),
    201,
  )
  return waitFor('the patient to be synced', async () => {
    const row = await getPatient(created.id)
    return row.sync.state === 'synced' ? row : undefined
  })
}

/**
 * Makes the registry and a hospital change one field of a new synced resource from the same base.
 * The registry writes first and the hospital then writes with If-Match on the version both started
 * from, so the registry's push meets HAPI's newer version and the merge opens a conflict. In the
 * rare run where the push reaches HAPI before the hospital's write, that write fails with a
 * version conflict and the case starts over with a new resource.
 */
async function changeResourceOnBothSides<R extends FhirPatient | FhirCondition>(
  create: () => Promise<{ id: string; version: number }>,
  type: R['resourceType'],
  registryWrite: (id: string, version: number) => Promise<Response>,
  hospitalChange: Partial<R>,
): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const row = await create()
    const current = await test.hospital.read<R>(type, row.id)
    if (!current) throw new Error(`${type}/${row.id} is missing in HAPI`)
    const patched = await registryWrite(row.id, row.version)
    expect(patched.status).toBe(200)
    try {
      await test.hospital.update<R>(
        { ...current, ...hospitalChange },
        { ifMatchVersion: Number(current.meta?.versionId) },
      )
      return row.id
    } catch (error) {
      if (!(error instanceof FhirRequestError && error.isVersionConflict) || attempt === 3) {
        throw error
      }
    }
  }
}

/** Changes one field of a new synced patient on both sides; `fields` sets its starting values. */
async function changeOnBothSides(
  fields: Record<string, unknown>,
  registryChange: Record<string, unknown>,
  hospitalChange: Partial<FhirPatient>,
): Promise<string> {
  return changeResourceOnBothSides<FhirPatient>(
    () => createSyncedPatient(fields),
    'Patient',
    (id, version) =>
      test.api('PATCH', `/patients/${id}`, registryChange, { 'If-Match': `"${version}"` }),
    hospitalChange,
  )
}

async function createSyncedCondition(): Promise<Condition> {
  const patient = await createSyncedPatient({})
  const created = await json<Condition>(
    await test.api('POST', '/conditions', {
      patientId: patient.id,
      code: { coding: [EPILEPSY] },
      clinicalStatus: 'active',
      verificationStatus: 'provisional',
    }),
    201,
  )
  return waitFor('the condition to be synced', async () => {
    const row = await json<Condition>(await test.api('GET', `/conditions/${created.id}`), 200)
    return row.sync.state === 'synced' ? row : undefined
  })
}

async function waitForConflict(entityId: string, field: string): Promise<Conflict> {
  return waitFor(`an open ${field} conflict of ${entityId}`, async () => {
    const found = await json<{ items: Conflict[] }>(
      await test.api('GET', `/conflicts?entityId=${entityId}&field=${field}`),
      200,
    )
    return found.items[0]
  })
}

/** Opens a birthDate conflict: base 1970-01-01, registry 1972-03-03, FHIR 1971-02-02. */
async function birthDateConflict(): Promise<Conflict> {
  const id = await changeOnBothSides({}, { birthDate: '1972-03-03' }, { birthDate: '1971-02-02' })
  return waitForConflict(id, 'birthDate')
}

/** Waits until HAPI and the registry both contain `expected`, as `readFhir` and `readRegistry` read it. */
async function waitForConvergence<T>(
  id: string,
  expected: T,
  readFhir: (patient: FhirPatient) => T,
  readRegistry: (patient: Patient) => T,
): Promise<void> {
  await waitFor(`Patient/${id} in HAPI to hold ${JSON.stringify(expected)}`, async () => {
    const stored = await test.hospital.read<FhirPatient>('Patient', id)
    return stored && JSON.stringify(readFhir(stored)) === JSON.stringify(expected)
      ? true
      : undefined
  })
  const synced = await waitFor(`patient ${id} to be synced`, async () => {
    const row = await getPatient(id)
    return row.sync.state === 'synced' ? row : undefined
  })
  expect(readRegistry(synced)).toEqual(expected)
}

/** The text of each cell of the comparison table's rows, row header first. */
async function comparisonRows(): Promise<string[][]> {
  const rows = page.locator('table.value-comparison tbody tr')
  await rows.first().waitFor()
  const texts: string[][] = []
  for (const row of await rows.all()) {
    texts.push(await row.locator('th, td').allInnerTexts())
  }
  return texts
}

async function openConflictPage(conflict: Conflict): Promise<void> {
  await page.goto(`${test.url}/console/conflicts/${conflict.id}`)
  await page.getByRole('heading', { level: 1, name: `Conflict on ${conflict.field}` }).waitFor()
  await page.locator('table.value-comparison').waitFor()
}

describe('conflict queue and detail', () => {
  it('settles a concurrent edit end to end', async () => {
    const conflict = await birthDateConflict()
    const patientId = conflict.entityId

    await page.goto(`${test.url}/console/conflicts`)
    await page.getByRole('heading', { level: 1, name: 'Conflicts' }).waitFor()
    await page.getByRole('table').waitFor()
    expect(await page.locator('.notice').first().innerText()).toContain('filter by one field')
    expect(await page.getByRole('checkbox').count()).toBe(0)
    await expectNoAccessibilityViolations(page)

    await page.getByLabel('Field', { exact: true }).fill('birthDate')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await page.waitForURL((url) => url.searchParams.get('field') === 'birthDate')
    const link = page.getByRole('link', { name: `birthDate of patient ${patientId}` })
    await link.waitFor()
    const row = page.getByRole('row').filter({ has: link })
    expect(await row.innerText()).toContain('1972-03-03')
    expect(await row.innerText()).toContain('1971-02-02')
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'conflicts-queue-filtered')

    await page.reload()
    await link.waitFor()
    expect(await page.getByLabel('Field', { exact: true }).inputValue()).toBe('birthDate')

    await link.click()
    await page.getByRole('heading', { level: 1, name: 'Conflict on birthDate' }).waitFor()
    expect(await comparisonRows()).toEqual([
      [
        'birthDate',
        '1970-01-01',
        'changed 1970-01-01 1972-03-03',
        'changed 1970-01-01 1971-02-02',
        'differ',
      ],
    ])
    const registry = page.getByRole('region', { name: 'Registry' })
    const fhir = page.getByRole('region', { name: 'FHIR' })
    expect(await registry.locator('dd').first().innerText()).toBe(String(conflict.registryVersion))
    expect(await registry.locator('time').getAttribute('datetime')).toBe(conflict.registryUpdatedAt)
    expect(await fhir.locator('dd').first().innerText()).toBe(String(conflict.fhirVersionId))
    expect(await fhir.locator('time').getAttribute('datetime')).toBe(conflict.fhirUpdatedAt)
    expect(await page.getByRole('link', { name: patientId }).getAttribute('href')).toBe(
      `/console/patients/${patientId}`,
    )
    expect(await page.locator('.summary').innerText()).toContain('sync state conflict')
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'conflicts-detail-open')

    await page.getByRole('button', { name: 'Take FHIR value' }).click()
    const status = page.getByRole('status').filter({ hasText: 'Conflict resolved' })
    await status.waitFor()
    expect(await status.innerText()).toContain('the FHIR value was taken')
    const resolution = page.getByRole('region', { name: 'Resolution' })
    await resolution.waitFor()
    expect(await resolution.innerText()).toContain('FHIR value taken by a steward')
    // The resolver shows as the id until the username has loaded.
    await expect.poll(() => resolution.innerText()).toContain(steward.username)
    expect(await resolution.getByText(steward.username).getAttribute('title')).toBe(
      `User id ${steward.id}`,
    )
    expect(await page.getByRole('button', { name: 'Take FHIR value' }).count()).toBe(0)
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'conflicts-detail-resolved')

    await waitForConvergence(
      patientId,
      '1971-02-02',
      (stored) => stored.birthDate,
      (row) => row.birthDate,
    )
    expect((await getConflict(conflict.id)).status).toBe('resolved')

    // The convergence shows in the console too: the patient view reads HAPI's current Patient and
    // shows both sides agreeing on the birth date.
    await page.getByRole('link', { name: patientId }).click()
    const birthDateRow = page
      .getByRole('table', { name: 'Registry record and FHIR resource, field by field' })
      .locator('tbody tr')
      .filter({ has: page.getByRole('rowheader', { name: 'Birth date', exact: true }) })
    await expect
      .poll(() => birthDateRow.locator('td').allInnerTexts())
      .toEqual(['1971-02-02', '1971-02-02', 'same'])
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'conflicts-patient-converged')
    await page.goBack()
    await page.getByRole('heading', { level: 1, name: 'Conflict on birthDate' }).waitFor()

    await page.getByRole('link', { name: 'Back to the conflict queue' }).first().click()
    await page.getByRole('heading', { level: 1, name: 'Conflicts' }).waitFor()
    expect(new URL(page.url()).searchParams.get('field')).toBe('birthDate')
  })

  it('resolves every selected conflict of one field', async () => {
    const ids: string[] = []
    for (let index = 0; index < 3; index++) {
      ids.push(await changeOnBothSides({}, { gender: 'other' }, { gender: 'male' }))
    }
    const conflicts = await Promise.all(ids.map((id) => waitForConflict(id, 'gender')))

    await page.goto(`${test.url}/console/conflicts?field=gender`)
    await page
      .getByRole('heading', { level: 2, name: 'Resolve several gender conflicts' })
      .waitFor()
    for (const id of ids) {
      await page
        .getByRole('checkbox', { name: `Select the conflict on gender of patient ${id}` })
        .waitFor()
    }
    await expectNoAccessibilityViolations(page)

    // Keyboard only: Space ticks a checkbox and Enter presses a button.
    await page.getByLabel('Select all 3 on this page').focus()
    await page.keyboard.press('Space')
    for (const id of ids) {
      expect(
        await page
          .getByRole('checkbox', { name: `Select the conflict on gender of patient ${id}` })
          .isChecked(),
      ).toBe(true)
    }
    await page.getByRole('button', { name: 'Take FHIR value for 3 selected' }).focus()
    await page.keyboard.press('Enter')

    const summary = page.getByRole('status').filter({ hasText: 'Bulk resolution finished' })
    await summary.waitFor()
    expect(await summary.innerText()).toContain('3 resolved')
    const resolved = page.getByRole('region', { name: 'Resolved' })
    for (const conflict of conflicts) {
      await resolved.getByRole('link', { name: `Conflict ${conflict.id}` }).waitFor()
    }
    await page.getByText('No open conflict matches these filters.').waitFor()
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'conflicts-bulk-summary')

    for (const conflict of conflicts) {
      const detail = await getConflict(conflict.id)
      expect(detail.status).toBe('resolved')
      expect(detail.resolution).toBe('fhir')
    }
    for (const id of ids) {
      await waitForConvergence(
        id,
        'male',
        (stored) => stored.gender,
        (row) => row.gender,
      )
    }
  })

  it('summarizes mixed bulk outcomes', async () => {
    const conflicts: Conflict[] = []
    for (let index = 0; index < 3; index++) conflicts.push(await birthDateConflict())
    const [kept, settled, moved] = conflicts as [Conflict, Conflict, Conflict]

    await page.goto(`${test.url}/console/conflicts?field=birthDate`)
    await page.getByLabel('Select all 3 on this page').check()

    // Meanwhile another steward settles one conflict and a clinician edits another patient.
    const other = await test.authorizationFor(['steward'])
    await json<ConflictDetail>(
      await test.api(
        'POST',
        `/conflicts/${settled.id}/resolve`,
        { choice: 'fhir' },
        { Authorization: other },
      ),
      200,
    )
    const current = await getPatient(moved.entityId)
    const patched = await test.api(
      'PATCH',
      `/patients/${moved.entityId}`,
      { birthDate: '1973-04-04' },
      { 'If-Match': `"${current.version}"` },
    )
    expect(patched.status).toBe(200)

    await page.getByRole('button', { name: 'Keep registry value for 3 selected' }).click()
    const summary = page.getByRole('status').filter({ hasText: 'Bulk resolution finished' })
    await summary.waitFor()
    expect(await summary.innerText()).toContain('1 resolved, 1 stale, 1 not open')
    const groups = [
      ['Resolved', kept],
      ['Changed meanwhile (stale): look at these again', moved],
      ['Already settled by someone else (not open)', settled],
    ] as const
    for (const [name, conflict] of groups) {
      const group = page.getByRole('region', { name })
      await group.getByRole('link', { name: `Conflict ${conflict.id}` }).waitFor()
    }
    expect(
      await page
        .getByRole('region', { name: 'Already settled by someone else (not open)' })
        .innerText(),
    ).toContain('now resolved')
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'conflicts-bulk-mixed')

    // The stale conflict stays in the queue with the fresh registry value.
    const row = page
      .getByRole('row')
      .filter({ has: page.getByRole('link', { name: `birthDate of patient ${moved.entityId}` }) })
    await expect.poll(() => row.innerText()).toContain('1973-04-04')
    expect((await getConflict(kept.id)).resolution).toBe('registry')
    expect((await getConflict(settled.id)).resolution).toBe('fhir')
    expect((await getConflict(moved.id)).status).toBe('open')
    await json<ConflictDetail>(
      await test.api('POST', `/conflicts/${moved.id}/resolve`, { choice: 'registry' }),
      200,
    )
  })

  it('reports a conflict another steward settled meanwhile', async () => {
    const conflict = await birthDateConflict()
    await openConflictPage(conflict)

    const other = await test.authorizationFor(['steward'])
    await json<ConflictDetail>(
      await test.api(
        'POST',
        `/conflicts/${conflict.id}/resolve`,
        { choice: 'registry' },
        { Authorization: other },
      ),
      200,
    )
    await page.getByRole('button', { name: 'Take FHIR value' }).click()

    const alert = page.getByRole('alert').filter({ hasText: 'CONFLICT_NOT_OPEN' })
    await alert.waitFor()
    expect(await alert.innerText()).toContain('Another steward settled this conflict')
    expect(await alert.innerText()).toMatch(/request [\w-]+/)
    const resolution = page.getByRole('region', { name: 'Resolution' })
    await resolution.waitFor()
    expect(await resolution.innerText()).toContain('registry value kept by a steward')
    expect(await page.getByRole('button', { name: 'Take FHIR value' }).count()).toBe(0)
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'conflicts-not-open')

    const patient = await getPatient(conflict.entityId)
    expect(patient.birthDate).toBe('1972-03-03')
  })

  it('reloads the values of a stale conflict', async () => {
    const conflict = await birthDateConflict()
    await openConflictPage(conflict)
    const current = await getPatient(conflict.entityId)
    const patched = await test.api(
      'PATCH',
      `/patients/${conflict.entityId}`,
      { birthDate: '1973-04-04' },
      { 'If-Match': `"${current.version}"` },
    )
    expect(patched.status).toBe(200)

    await page.getByRole('button', { name: 'Keep registry value' }).click()
    const alert = page.getByRole('alert').filter({ hasText: 'CONFLICT_STALE' })
    await alert.waitFor()
    expect(await alert.innerText()).toContain('look at them again')
    await expect
      .poll(comparisonRows, { timeout: 15_000 })
      .toEqual([
        [
          'birthDate',
          '1970-01-01',
          'changed 1970-01-01 1973-04-04',
          'changed 1970-01-01 1971-02-02',
          'differ',
        ],
      ])
    expect(await page.getByLabel('New value', { exact: true }).inputValue()).toBe('1973-04-04')
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'conflicts-stale')

    await page.getByRole('button', { name: 'Keep registry value' }).click()
    await page.getByRole('status').filter({ hasText: 'the registry value was kept' }).waitFor()
    await waitForConvergence(
      conflict.entityId,
      '1973-04-04',
      (stored) => stored.birthDate,
      (row) => row.birthDate,
    )
  })

  it('shows the field errors of a rejected value', async () => {
    const home = { system: 'phone' as const, value: '555-0100', use: 'home' }
    const id = await changeOnBothSides(
      { telecom: [home] },
      { telecom: [{ ...home, use: 'mobile' }] },
      { telecom: [{ ...home, use: 'work' }] },
    )
    const conflict = await waitForConflict(id, 'telecom')
    await openConflictPage(conflict)

    const rows = await comparisonRows()
    expect(rows).toContainEqual([
      'use',
      'home',
      'changed home mobile',
      'changed home work',
      'differ',
    ])
    const input = page.getByLabel('New value as JSON (null removes the element)')
    expect(JSON.parse(await input.inputValue())).toEqual(conflict.registryValue)

    await input.fill('{"system": "phone",')
    await page.getByRole('button', { name: 'Use this value' }).click()
    await page.getByRole('alert').filter({ hasText: 'not valid JSON' }).waitFor()

    await input.fill(JSON.stringify({ ...home, use: 'sometimes' }))
    await page.getByRole('button', { name: 'Use this value' }).click()
    const rejection = page.getByRole('alert').filter({ hasText: 'VALIDATION_FAILED' })
    await rejection.waitFor()
    const fields = await rejection.getByRole('list', { name: 'Invalid fields' }).innerText()
    expect(fields).toMatch(/^value\.use: /m)
    expect(await input.getAttribute('aria-invalid')).toBe('true')
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'conflicts-value-rejected')
    expect((await getConflict(conflict.id)).status).toBe('open')

    await input.fill(JSON.stringify({ ...home, use: 'temp' }))
    await page.getByRole('button', { name: 'Use this value' }).click()
    await page
      .getByRole('status')
      .filter({ hasText: 'Conflict resolved with the value you entered' })
      .waitFor()
    expect(await page.getByRole('region', { name: 'Resolution' }).innerText()).toContain(
      'value supplied by a steward',
    )

    await waitForConvergence(
      id,
      ['temp'],
      (stored) => (stored.telecom ?? []).map((contact) => contact.use),
      (row) => row.telecom.map((contact) => contact.use),
    )
  })

  it('settles a FHIR delete against an edit', async () => {
    // The registry's edit must come before the merge of HAPI's delete notification. When the merge
    // is first, the row is already deleted (404) and the case starts over with a new patient.
    let patient: Patient | undefined
    for (let attempt = 1; patient === undefined; attempt++) {
      const created = await createSyncedPatient({})
      await test.hospital.delete('Patient', created.id)
      const patched = await test.api(
        'PATCH',
        `/patients/${created.id}`,
        { gender: 'other' },
        { 'If-Match': `"${created.version}"` },
      )
      if (patched.status === 200) patient = created
      else if (patched.status !== 404 || attempt === 3) expect(patched.status).toBe(200)
    }
    const conflict = await waitForConflict(patient.id, '(deleted)')
    // The merge of HAPI's delete notification must not run between the resolution and its push,
    // where it would find the resource still gone and raise the conflict again.
    await waitFor('the merge of the delete notification', async () => {
      return test.registry.db
        .selectFrom('fhir_notifications')
        .select('id')
        .where('resource_id', '=', patient.id)
        .where('outcome', '=', 'delete-conflict')
        .executeTakeFirst()
    })
    await openConflictPage(conflict)

    const rows = await comparisonRows()
    expect(rows).toContainEqual([
      'gender',
      'female',
      'changed female other',
      'removed female',
      'differ',
    ])
    expect(await page.getByRole('region', { name: 'FHIR' }).innerText()).toContain(
      'Deleted on this side',
    )
    expect(await page.getByRole('button', { name: 'Use this value' }).count()).toBe(0)
    expect(await page.getByRole('button', { name: 'Dismiss' }).count()).toBe(0)
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'conflicts-deleted-in-fhir')

    await page.getByRole('button', { name: 'Keep registry value' }).click()
    await page.getByRole('status').filter({ hasText: 'the registry value was kept' }).waitFor()
    await waitForConvergence(
      patient.id,
      'other',
      (stored) => stored.gender,
      (row) => row.gender,
    )
  })

  it('shows a condition conflict by its id', async () => {
    const conditionId = await changeResourceOnBothSides<FhirCondition>(
      createSyncedCondition,
      'Condition',
      (id, version) =>
        test.api(
          'PATCH',
          `/conditions/${id}`,
          { verificationStatus: 'differential' },
          { 'If-Match': `"${version}"` },
        ),
      { verificationStatus: { coding: [{ system: VERIFICATION_STATUS, code: 'confirmed' }] } },
    )
    const conflict = await waitForConflict(conditionId, 'verificationStatus')
    await openConflictPage(conflict)

    expect(await page.locator('.summary').innerText()).toContain(`condition ${conditionId}`)
    expect(await page.getByRole('link', { name: conditionId }).count()).toBe(0)
    expect(await comparisonRows()).toEqual([
      [
        'verificationStatus',
        'provisional',
        'changed provisional differential',
        'changed provisional confirmed',
        'differ',
      ],
    ])
    await expectNoAccessibilityViolations(page)

    await page.getByRole('button', { name: 'Keep registry value' }).click()
    await page.getByRole('status').filter({ hasText: 'the registry value was kept' }).waitFor()
    await waitFor('Condition in HAPI to be differential', async () => {
      const stored = await test.hospital.read<FhirCondition>('Condition', conditionId)
      return stored?.verificationStatus?.coding?.[0]?.code === 'differential' ? true : undefined
    })
  })

  it('dismisses a conflict with a reason', async () => {
    const conflict = await birthDateConflict()
    await openConflictPage(conflict)

    await page.getByRole('button', { name: 'Dismiss' }).click()
    await page
      .getByRole('alert')
      .filter({ hasText: 'Enter why the conflict is dismissed' })
      .waitFor()
    expect((await getConflict(conflict.id)).status).toBe('open')

    const reason = 'Both birth dates are wrong; the hospital corrects its record first'
    await page.getByLabel('Reason for dismissing (required)').fill(reason)
    await page.getByRole('button', { name: 'Dismiss' }).click()
    await page.getByRole('status').filter({ hasText: 'Conflict dismissed' }).waitFor()
    const dismissal = page.getByRole('region', { name: 'Dismissal' })
    await dismissal.waitFor()
    expect(await dismissal.innerText()).toContain(reason)
    await expect.poll(() => dismissal.innerText()).toContain(steward.username)
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'conflicts-dismissed')

    const detail = await getConflict(conflict.id)
    expect(detail.status).toBe('dismissed')
    expect(detail.resolutionReason).toBe(reason)
    await waitForConvergence(
      conflict.entityId,
      '1972-03-03',
      (stored) => stored.birthDate,
      (row) => row.birthDate,
    )
  })

  it('shows the API error for an invalid filter', async () => {
    await page.goto(`${test.url}/console/conflicts?entityId=not-a-uuid&status=resolved`)
    const alert = page.getByRole('alert').filter({ hasText: 'VALIDATION_FAILED' })
    await alert.waitFor()
    expect(await alert.getByRole('list', { name: 'Invalid fields' }).innerText()).toContain(
      'entityId',
    )
    expect(await page.getByLabel('Status').inputValue()).toBe('resolved')
    expect(await page.getByLabel('Entity id').inputValue()).toBe('not-a-uuid')
    expect(await page.getByText('Bulk resolution applies to open conflicts').count()).toBe(1)
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'conflicts-invalid-filter')

    await page.getByRole('button', { name: 'Clear filters' }).click()
    await page.waitForURL((url) => url.search === '')
    // The router renders a navigation after it changed the URL, so the form may lag a moment.
    await expect.poll(() => page.getByLabel('Status').inputValue()).toBe('open')
    await expect.poll(() => page.getByRole('alert').count()).toBe(0)
  })

  it('pages forward and back with the cursors', async () => {
    const ids: string[] = []
    for (let index = 0; index < 11; index++) {
      ids.push(await changeOnBothSides({}, { gender: 'other' }, { gender: 'male' }))
    }
    await Promise.all(ids.map((id) => waitForConflict(id, 'gender')))
    const all = await json<{ items: Conflict[] }>(
      await test.api('GET', '/conflicts?field=gender&limit=200'),
      200,
    )
    const expected = all.items.map((conflict) => conflict.id)
    expect(expected).toHaveLength(11)

    await page.goto(`${test.url}/console/conflicts`)
    await page.getByLabel('Field', { exact: true }).fill('gender')
    await page.getByLabel('Per page').selectOption('10')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await page.waitForURL((url) => url.searchParams.get('limit') === '10')

    expect(await listedPage(1)).toEqual(expected.slice(0, 10))
    await page.getByRole('button', { name: 'Next page' }).click()
    expect(await listedPage(2)).toEqual(expected.slice(10))
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true)
    await page.getByRole('button', { name: 'Previous page' }).click()
    expect(await listedPage(1)).toEqual(expected.slice(0, 10))
    expect(await page.getByRole('button', { name: 'Previous page' }).isDisabled()).toBe(true)
  })
})

/** Waits until the queue shows page `number` loaded, and returns the ids of its conflicts. */
async function listedPage(number: number): Promise<string[]> {
  const caption = `open conflicts on gender, page ${number}`
  await page.getByRole('table').getByText(caption, { exact: true }).waitFor()
  const hrefs = await Promise.all(
    (await page.locator('table.conflict-table tbody th a').all()).map((link) =>
      link.getAttribute('href'),
    ),
  )
  return hrefs.map((href) => href?.split('/').at(-1) ?? '')
}
