import type { Patient as FhirPatient } from '@medplum/fhirtypes'
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { AuditPage } from '../src/audit/audit.schemas.ts'
import type { Conflict } from '../src/conflicts/conflict.schemas.ts'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { launchChromium, saveScreenshot } from './browser/chromium.ts'
import { buildConsole } from './browser/console-build.ts'
import {
  createConsoleUser,
  expectNoAccessibilityViolations,
  focusedElement,
  signIn,
  type ConsoleUser,
} from './browser/console-session.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'
import {
  clash,
  conditionInput,
  createSynced,
  fhirIdOf,
  getEntity,
  hospitalEdit,
  patchEntity,
  patientInput,
  readFhir,
  waitForSettled,
} from './merge-fixtures.ts'

const COMPARISON_TABLE = 'Registry record and FHIR resource, field by field'
const HOSPITAL_PHONE = '555-0142'

let test: TestRegistry
let browser: Browser
let context: BrowserContext
let page: Page

/** A synced patient that the hospital gave a new telecom in HAPI, merged into the registry. */
let merged: Patient
let clinicianStewardAuditor: ConsoleUser

beforeAll(async () => {
  await buildConsole()
  test = await startTestRegistry('console_patients')
  browser = await launchChromium()

  const created = await createSynced(
    test,
    'patient',
    patientInput({
      names: [{ use: 'official', family: uniqueFamily('Lindqvist'), given: ['Maja'] }],
    }),
  )
  await waitForSettled(test, 'patient', created.id)
  await createSynced(test, 'condition', conditionInput(created.id))
  await hospitalEdit(test, 'patient', fhirIdOf(created), (resource: FhirPatient) => {
    resource.telecom = [{ system: 'phone', value: HOSPITAL_PHONE, use: 'mobile' }]
  })
  merged = await waitFor('the hospital telecom merged', async () => {
    const current = await getEntity(test, 'patient', created.id)
    return current.telecom.some((contact) => contact.value === HOSPITAL_PHONE) ? current : undefined
  })
  await waitForSettled(test, 'patient', created.id)
  merged = await getEntity(test, 'patient', created.id)
  clinicianStewardAuditor = await createConsoleUser(test, ['clinician', 'steward', 'auditor'])
})

// Each test signs in on a fresh context, so a failed test leaves no session to the next.
beforeEach(async () => {
  context = await browser.newContext({ viewport: { width: 1366, height: 768 } })
  page = await context.newPage()
})

afterEach(async () => {
  await context.close()
})

afterAll(async () => {
  await browser.close()
  await test.stop()
})

/** Appends random letters to `family`, so a name search finds only the patients of one test. */
function uniqueFamily(family: string): string {
  return `${family}${crypto
    .randomUUID()
    .slice(0, 6)
    .replace(/[^a-z]/g, 'x')}`
}

/**
 * Deletes the Patient in HAPI as the hospital and edits the registry row right after, while a lock
 * on the notification table holds HAPI's delivery of the delete back. So the edit always lands
 * before the merge reads the delete, which then opens a (deleted) conflict and keeps the row.
 */
async function deleteInHapiAfterRegistryEdit(synced: Patient): Promise<void> {
  const holder = await test.registry.pool.connect()
  try {
    await holder.query('begin')
    await holder.query(
      `lock table ${test.registry.config.DATABASE_SCHEMA}.fhir_notifications in exclusive mode`,
    )
    await test.hospital.delete('Patient', fhirIdOf(synced))
    await patchEntity(test, 'patient', synced, { gender: 'other' })
  } finally {
    await holder.query('commit')
    holder.release()
  }
}

function comparisonRow(field: string): Locator {
  return page
    .getByRole('table', { name: COMPARISON_TABLE })
    .locator('tbody tr')
    .filter({ has: page.getByRole('rowheader', { name: field, exact: true }) })
}

async function cellsOf(row: Locator): Promise<string[]> {
  return row.locator('td').allInnerTexts()
}

/** Presses Tab until an element of `tag` whose text contains `text` has the focus. */
async function tabTo(tag: string, text: string): Promise<void> {
  for (let presses = 0; presses < 80; presses++) {
    await page.keyboard.press('Tab')
    const focused = await focusedElement(page)
    if (focused.tag === tag && focused.text.includes(text)) return
  }
  throw new Error(`No ${tag} containing "${text}" took the focus within 80 presses of Tab`)
}

async function openPatient(id: string): Promise<void> {
  await page.goto(`${test.url}/console/patients/${id}`)
  await page.getByRole('table', { name: COMPARISON_TABLE }).waitFor()
}

describe('console patients', () => {
  it('finds a patient and shows both sides and its trail', async () => {
    await signIn(page, test.url, clinicianStewardAuditor)
    const family = merged.names[0]?.family ?? ''
    await page.goto(`${test.url}/console/patients`)
    await page.getByRole('heading', { name: 'Patients', level: 1 }).waitFor()
    await expectNoAccessibilityViolations(page)

    await page.getByLabel('Name').fill(family)
    await page.getByRole('button', { name: 'Search', exact: true }).click()
    // The unfiltered list was already on screen, so wait for the URL and the rows of this search.
    await page.waitForURL((url) => url.searchParams.get('name') === family)
    const results = page.getByRole('table', { name: /^Patients, page 1/ })
    await expect.poll(() => results.locator('tbody tr').count()).toBe(1)
    const rows = results.locator('tbody tr')
    expect(await rows.first().innerText()).toContain(`Maja ${family}`)
    expect(await rows.first().innerText()).toContain('1970-01-01')
    expect(await rows.first().innerText()).toContain('synced')
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'patients-list')

    // The registry identifier as `system|value` finds the same patient.
    await page.getByRole('button', { name: 'Clear search' }).click()
    await page.waitForURL((url) => url.search === '')
    // The form is rendered anew for the cleared search, and text typed before that is lost.
    await expect.poll(() => page.getByLabel('Name').inputValue()).toBe('')
    await page.getByLabel('Identifier (system|value)').fill(`${test.identifierSystem}|${merged.id}`)
    await page.getByRole('button', { name: 'Search', exact: true }).click()
    await page.waitForURL((url) => url.searchParams.has('identifier'))
    expect(new URL(page.url()).searchParams.get('name')).toBeNull()
    await expect.poll(() => results.locator('tbody tr').count()).toBe(1)
    await page.getByRole('link', { name: `Maja ${family}` }).waitFor()

    await page.getByRole('link', { name: `Maja ${family}` }).click()
    await page.getByRole('heading', { name: `Maja ${family}`, level: 1 }).waitFor()
    await page.getByText(`Raw FHIR JSON of Patient/${fhirIdOf(merged)}`).waitFor()
    const stored = await readFhir(test, 'patient', fhirIdOf(merged))

    const versions = page.getByRole('definition')
    const versionText = (await versions.allInnerTexts()).join('\n')
    expect(versionText).toContain(String(merged.version))
    expect(versionText).toContain(`Patient/${fhirIdOf(merged)}`)
    expect(versionText).toContain(stored.meta?.source ?? 'missing meta.source')
    expect(await page.locator('.version-list').innerText()).toMatch(
      new RegExp(`FHIR version id\\s+${stored.meta?.versionId ?? 'missing'}\\b`),
    )
    expect(await cellsOf(comparisonRow('Telecom'))).toEqual([
      `phone: ${HOSPITAL_PHONE} (mobile)`,
      `phone: ${HOSPITAL_PHONE} (mobile)`,
      'same',
    ])
    expect(await cellsOf(comparisonRow('Birth date'))).toEqual(['1970-01-01', '1970-01-01', 'same'])
    expect(await page.getByText('differs').count()).toBe(0)

    const conditions = page.getByRole('table', { name: 'Conditions' })
    expect(await conditions.innerText()).toContain('Multiple sclerosis')
    expect(await conditions.innerText()).toContain('active')

    const trail = page.getByRole('table', { name: /^Changes of this patient/ })
    await trail.waitFor()
    const createRow = trail.locator('tbody tr').filter({ hasText: 'create' })
    const mergeRow = trail.locator('tbody tr').filter({ hasText: 'FHIR merge (fhir-merge)' })
    const operator = await test.registry.users.get(test.operatorId)
    expect(await createRow.innerText()).toContain('API (user)')
    // The actor shows as the id until its username has loaded.
    await expect.poll(() => createRow.innerText()).toContain(operator.username)
    expect(await createRow.getByText(operator.username).getAttribute('title')).toBe(
      `User id ${test.operatorId}`,
    )
    expect(await mergeRow.count()).toBeGreaterThanOrEqual(1)
    const telecomMerge = mergeRow.filter({ hasText: 'telecom' }).first()
    expect(await telecomMerge.locator('ins').isVisible()).toBe(false)
    await telecomMerge.locator('summary').click()
    expect(await telecomMerge.locator('ins').innerText()).toContain(HOSPITAL_PHONE)
    await expectNoAccessibilityViolations(page)

    // The raw JSON opens with the keyboard alone.
    await tabTo('SUMMARY', `Raw FHIR JSON of Patient/${fhirIdOf(merged)}`)
    await page.keyboard.press('Enter')
    expect(
      await page.getByLabel(`Raw FHIR JSON of Patient/${fhirIdOf(merged)}`).innerText(),
    ).toContain(HOSPITAL_PHONE)
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'patients-view')
  })

  it('pages a search and checks the birth date', async () => {
    // One more patient than a page of the list contains, all with one family and birth month.
    const family = uniqueFamily('Paging')
    for (let index = 1; index <= 26; index++) {
      const day = String((index % 28) + 1).padStart(2, '0')
      const response = await test.api(
        'POST',
        '/patients',
        patientInput({
          names: [{ use: 'official', family, given: [`Patient${String(index)}`] }],
          birthDate: `1955-07-${day}`,
        }),
      )
      expect(response.status).toBe(201)
    }
    await signIn(page, test.url, clinicianStewardAuditor)
    await page.goto(`${test.url}/console/patients`)

    await page.getByLabel('Birth date starts with').fill('55-07')
    await page.getByRole('button', { name: 'Search', exact: true }).click()
    const problem = page.getByRole('alert').filter({ hasText: 'Enter a year' })
    await problem.waitFor()
    expect(new URL(page.url()).search).toBe('')
    await expectNoAccessibilityViolations(page)

    await page.getByLabel('Name').fill(family)
    await page.getByLabel('Birth date starts with').fill('1955-07')
    await page.getByRole('button', { name: 'Search', exact: true }).click()
    // The unfiltered list was already on screen, so wait for the rows of this search.
    await page.waitForURL((url) => url.searchParams.get('birthDate') === '1955-07')
    const firstPage = page.getByRole('table', { name: 'Patients, page 1' })
    const familyRows = firstPage.locator('tbody tr').filter({ hasText: family })
    await expect.poll(() => familyRows.count()).toBe(25)
    expect(await firstPage.locator('tbody tr').count()).toBe(25)

    await page.getByRole('button', { name: 'Next page' }).click()
    // While page 2 loads, its caption ends in "(loading…)" over the rows of page 1.
    const secondPage = page.getByRole('table', { name: 'Patients, page 2', exact: true })
    await secondPage.waitFor()
    await expect.poll(() => secondPage.locator('tbody tr').count()).toBe(1)
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true)
    await expectNoAccessibilityViolations(page)

    await page.getByRole('button', { name: 'Previous page' }).click()
    await expect.poll(() => familyRows.count()).toBe(25)
  })

  it('marks the field that differs from FHIR', async () => {
    // birthDate merges by the `manual` rule, so edits on both sides open a conflict, and while it
    // is open the registry keeps its own value and HAPI the hospital's.
    const synced = await createSynced(
      test,
      'patient',
      patientInput({
        names: [{ use: 'official', family: uniqueFamily('Haddad'), given: ['Samir'] }],
      }),
    )
    await waitForSettled(test, 'patient', synced.id)
    await clash(
      test,
      'patient',
      synced,
      (resource) => {
        resource.birthDate = '1971-02-02'
      },
      { birthDate: '1972-03-03' },
    )
    await waitFor('a birthDate conflict', async () => {
      const response = await test.api('GET', `/conflicts?entityId=${synced.id}&field=birthDate`)
      const conflicts = (await response.json()) as { items: Conflict[] }
      return conflicts.items[0]
    })
    await waitForSettled(test, 'patient', synced.id)
    const fhirSide = await readFhir(test, 'patient', fhirIdOf(synced))
    expect(fhirSide.birthDate).toBe('1971-02-02')

    await signIn(page, test.url, clinicianStewardAuditor)
    await openPatient(synced.id)
    await page.getByText(`Raw FHIR JSON of Patient/${fhirIdOf(synced)}`).waitFor()

    expect(await cellsOf(comparisonRow('Birth date'))).toEqual([
      '1972-03-03',
      '1971-02-02',
      'DIFFERS',
    ])
    expect(await cellsOf(comparisonRow('Gender'))).toEqual(['female', 'female', 'same'])
    expect(
      await page.getByRole('table', { name: COMPARISON_TABLE }).getByText('differs').count(),
    ).toBe(1)
    expect(await page.locator('.version-list').innerText()).toContain('conflict')
    const conflictsLink = page.getByRole('link', { name: 'Open conflicts of this patient' })
    expect(await conflictsLink.getAttribute('href')).toBe(
      `/console/conflicts?entityId=${synced.id}`,
    )
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'patients-view-differs')
  })

  it('tells a steward the trail needs the auditor role', async () => {
    const steward = await createConsoleUser(test, ['steward'])
    await signIn(page, test.url, steward)
    await openPatient(merged.id)
    await page.getByText(`Raw FHIR JSON of Patient/${fhirIdOf(merged)}`).waitFor()

    const trailSection = page.getByRole('region', { name: 'Audit trail' })
    expect(await trailSection.innerText()).toContain('The audit trail needs the auditor role.')
    expect(await trailSection.getByRole('table').count()).toBe(0)
    expect(await cellsOf(comparisonRow('Telecom'))).toEqual([
      `phone: ${HOSPITAL_PHONE} (mobile)`,
      `phone: ${HOSPITAL_PHONE} (mobile)`,
      'same',
    ])
    await page.getByRole('link', { name: 'Open conflicts of this patient' }).waitFor()
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'patients-view-steward')
  })

  it('shows why an identifier without a value is rejected', async () => {
    await signIn(page, test.url, clinicianStewardAuditor)
    await page.goto(`${test.url}/console/patients`)
    await page.getByLabel('Identifier (system|value)').fill(`${test.identifierSystem}|`)
    await page.getByRole('button', { name: 'Search', exact: true }).click()

    const alert = page.getByRole('alert').filter({ hasText: 'VALIDATION_FAILED' })
    await alert.waitFor()
    expect(await alert.innerText()).toContain('identifier: Must have a value after the bar')
    expect(await page.getByRole('table').count()).toBe(0)
    await expectNoAccessibilityViolations(page)
  })

  it('keeps a long name inside the page width', async () => {
    const family = uniqueFamily('L'.repeat(300))
    const long = await createSynced(
      test,
      'patient',
      patientInput({ names: [{ use: 'official', family, given: ['G'.repeat(120)] }] }),
    )
    await signIn(page, test.url, clinicianStewardAuditor)
    // The page and every table on it, since a table may scroll inside a box of its own.
    const widthOf = () =>
      page.evaluate<number>(
        "Math.max(document.documentElement.scrollWidth, ...[...document.querySelectorAll('table')].map((table) => table.scrollWidth))",
      )

    await page.goto(`${test.url}/console/patients?name=${family}`)
    await page.getByRole('link', { name: new RegExp(family) }).waitFor()
    expect(await widthOf()).toBeLessThanOrEqual(1366)

    await openPatient(long.id)
    await page.getByText(`Raw FHIR JSON of Patient/${fhirIdOf(long)}`).waitFor()
    expect(await widthOf()).toBeLessThanOrEqual(1366)
    const operator = await test.registry.users.get(test.operatorId)
    expect(long.updatedBy).toBe(test.operatorId)
    await expect
      .poll(() => page.locator('.version-list').innerText())
      .toMatch(new RegExp(`Registry last updated\\s+.+ by ${operator.username}`))
    await saveScreenshot(page, 'patients-view-long-name')
  })

  it('explains a Patient gone from HAPI', async () => {
    // A registry edit after the hospital's delete keeps the row, in a (deleted) conflict, while
    // HAPI returns 410 for the Patient.
    const synced = await createSynced(
      test,
      'patient',
      patientInput({
        names: [{ use: 'official', family: uniqueFamily('Okafor'), given: ['Ada'] }],
      }),
    )
    await waitForSettled(test, 'patient', synced.id)
    await deleteInHapiAfterRegistryEdit(synced)
    await waitForSettled(test, 'patient', synced.id)

    await signIn(page, test.url, clinicianStewardAuditor)
    await openPatient(synced.id)
    const alert = page.getByRole('alert').filter({ hasText: 'no longer has this Patient' })
    await alert.waitFor()
    expect(await alert.innerText()).toContain('FHIR_RESOURCE_GONE')
    expect(await cellsOf(comparisonRow('Gender'))).toEqual([
      'other',
      'not available',
      'not compared',
    ])
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'patients-view-fhir-gone')
  })

  it('filters the audit log page', async () => {
    const auditor = await createConsoleUser(test, ['auditor'])
    await signIn(page, test.url, auditor)
    await page.goto(`${test.url}/console/audit`)
    await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor()
    await page.getByRole('table', { name: /^Audit log, newest first/ }).waitFor()
    await expectNoAccessibilityViolations(page)

    await page.getByLabel('Entity id').fill(merged.id)
    await page.getByLabel('Source').selectOption('fhir-merge')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await page.waitForURL((url) => url.searchParams.get('source') === 'fhir-merge')
    const url = new URL(page.url())
    expect(url.searchParams.get('entityId')).toBe(merged.id)

    const expected = (await (
      await test.api('GET', `/audit?entityId=${merged.id}&source=fhir-merge`, undefined, {
        Authorization: await test.authorizationFor(['auditor']),
      })
    ).json()) as AuditPage
    expect(expected.items.length).toBeGreaterThanOrEqual(1)
    const table = page.getByRole('table', { name: /^Audit log, newest first/ })
    await expect.poll(() => table.locator('tbody tr').count()).toBe(expected.items.length)
    for (const text of await table.locator('tbody tr').allInnerTexts()) {
      expect(text).toContain('FHIR merge (fhir-merge)')
      expect(text).toContain(merged.id)
    }
    // An auditor without the clinician or steward role may not open the patient page, so the
    // patient links to its own trail in the log.
    const link = table.getByRole('link', { name: merged.id }).first()
    expect(await link.getAttribute('href')).toBe(
      `/console/audit?entityType=patient&entityId=${merged.id}`,
    )
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'audit-log-filtered')
    await link.click()
    await page.waitForURL((next) => next.searchParams.get('source') === null)
    expect(await page.getByLabel('Entity id').inputValue()).toBe(merged.id)

    await page.getByLabel('Source').selectOption('steward')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await page.getByText('No audit entry matches these filters.').waitFor()
    await expectNoAccessibilityViolations(page)
  })
})
