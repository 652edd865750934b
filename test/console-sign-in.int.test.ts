import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { launchChromium, saveScreenshot } from './browser/chromium.ts'
import { buildConsole } from './browser/console-build.ts'
import {
  createConsoleUser,
  expectNoAccessibilityViolations,
  focusedElement,
  signIn,
} from './browser/console-session.ts'
import { startTestRegistry, type TestRegistry } from './harness.ts'

let test: TestRegistry
let browser: Browser
let context: BrowserContext
let page: Page

beforeAll(async () => {
  await buildConsole()
  test = await startTestRegistry('console_sign_in')
  browser = await launchChromium()
})

afterAll(async () => {
  await browser.close()
  await test.stop()
})

describe('console sign-in', () => {
  // A fresh context for each test, so that a test that fails while signed in leaves no session
  // in sessionStorage for the next one.
  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1366, height: 768 } })
    page = await context.newPage()
  })

  afterEach(async () => {
    await context.close()
  })

  it('shows the API error for a wrong password', async () => {
    const user = await createConsoleUser(test, ['steward'])
    const failedLoads: string[] = []
    page.on('response', (response) => {
      if (response.status() >= 400) failedLoads.push(`${response.status()} ${response.url()}`)
    })
    await page.goto(`${test.url}/console/`)
    await expect.poll(() => page.title()).toBe('Sign in · Brain Registry')
    // The page, its script and its styles load without an error status.
    expect(failedLoads).toEqual([])
    await expectNoAccessibilityViolations(page)

    await page.getByLabel('Username').fill(user.username)
    await page.getByLabel('Password').fill('not the password')
    await page.getByRole('button', { name: 'Sign in' }).click()

    const alert = page.getByRole('alert')
    await alert.waitFor()
    expect(await alert.textContent()).toContain('INVALID_CREDENTIALS')
    await saveScreenshot(page, 'sign-in-wrong-password')
  })

  it('lists only the pages of the user roles', async () => {
    const steward = await createConsoleUser(test, ['steward'])
    await signIn(page, test.url, steward)

    const nav = page.getByRole('navigation', { name: 'Main' })
    expect(await nav.getByRole('link').allTextContents()).toEqual(['Conflicts', 'Patients'])
    expect(new URL(page.url()).pathname).toBe('/console/conflicts')

    await page.goto(`${test.url}/console/sync`)
    await page.getByRole('heading', { name: 'Not allowed', level: 1 }).waitFor()
    await saveScreenshot(page, 'steward-on-sync-page')
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByRole('button', { name: 'Sign in' }).waitFor()

    const admin = await createConsoleUser(test, ['admin', 'auditor'])
    await signIn(page, test.url, admin)
    expect(await nav.getByRole('link').allTextContents()).toEqual(['Sync', 'Audit log'])
    await page.getByRole('button', { name: 'Sign out' }).click()
  })

  it('works with the keyboard alone', async () => {
    const steward = await createConsoleUser(test, ['steward'])
    await page.goto(`${test.url}/console/`)
    await page.getByRole('button', { name: 'Sign in' }).waitFor()

    await page.keyboard.press('Tab')
    expect((await focusedElement(page)).id).toBe('username')
    await page.keyboard.type(steward.username)
    await page.keyboard.press('Tab')
    await page.keyboard.type(steward.password)
    await page.keyboard.press('Enter')
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
    // After the sign-in, the new page's heading has the focus. The header and its Sign out button
    // render a moment before the page that the start page redirects to.
    await page.getByRole('heading', { name: 'Conflicts', level: 1 }).waitFor()
    await expect.poll(() => focusedElement(page)).toMatchObject({ tag: 'H1', text: 'Conflicts' })

    // On a fresh load the skip link is the first Tab stop.
    await page.reload()
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
    await page.keyboard.press('Tab')
    expect(await focusedElement(page)).toMatchObject({ tag: 'A', text: 'Skip to main content' })
    await saveScreenshot(page, 'skip-link-focused')
    await page.keyboard.press('Enter')
    expect((await focusedElement(page)).id).toBe('main')
    await page.getByRole('button', { name: 'Sign out' }).click()
  })

  it('follows a role given during the session', async () => {
    const steward = await createConsoleUser(test, ['steward'])
    await signIn(page, test.url, steward)
    const nav = page.getByRole('navigation', { name: 'Main' })
    expect(await nav.getByRole('link').allTextContents()).toEqual(['Conflicts', 'Patients'])

    const admin = await test.authorizationFor(['admin'])
    const changed = await test.api(
      'PATCH',
      `/users/${steward.id}`,
      { roles: ['steward', 'auditor'] },
      { Authorization: admin },
    )
    expect(changed.status).toBe(200)
    await nav.getByRole('link', { name: 'Patients' }).click()

    await nav.getByRole('link', { name: 'Audit log' }).waitFor()
    expect(await nav.getByRole('link').allTextContents()).toEqual([
      'Conflicts',
      'Patients',
      'Audit log',
    ])
  })

  it('returns to the requested page after sign-in', async () => {
    const clinician = await createConsoleUser(test, ['clinician'])
    await page.goto(`${test.url}/console/patients`)
    await page.getByRole('button', { name: 'Sign in' }).waitFor()
    await page.getByLabel('Username').fill(clinician.username)
    await page.getByLabel('Password').fill(clinician.password)
    await page.getByRole('button', { name: 'Sign in' }).click()

    await page.getByRole('button', { name: 'Sign out' }).waitFor()
    expect(new URL(page.url()).pathname).toBe('/console/patients')
    await page.getByRole('button', { name: 'Sign out' }).click()
  })

  it('sends the user back to sign-in when the account is disabled', async () => {
    const steward = await createConsoleUser(test, ['steward'])
    await signIn(page, test.url, steward)
    const admin = await test.authorizationFor(['admin'])
    const disabled = await test.api(
      'PATCH',
      `/users/${steward.id}`,
      { disabled: true },
      { Authorization: admin },
    )
    expect(disabled.status).toBe(200)

    await page.reload()
    const status = page.getByRole('status')
    await status.waitFor()
    expect(await status.textContent()).toContain('TOKEN_INVALID')
    await page.getByRole('button', { name: 'Sign in' }).waitFor()
  })
})

describe('console session end', () => {
  let shortLived: TestRegistry

  beforeAll(async () => {
    // Tokens of 90 s, so the warning of the last two minutes shows from the start.
    shortLived = await startTestRegistry('console_short_session', { AUTH_TOKEN_TTL_SECONDS: '90' })
    context = await browser.newContext({ viewport: { width: 1366, height: 768 } })
    page = await context.newPage()
  })

  afterAll(async () => {
    await context.close()
    await shortLived.stop()
  })

  it('warns before the token expires', async () => {
    const steward = await createConsoleUser(shortLived, ['steward'])
    await signIn(page, shortLived.url, steward)

    const notice = page.getByRole('status').filter({ hasText: 'Your session ends at' })
    await notice.waitFor()
    await expectNoAccessibilityViolations(page)
    await saveScreenshot(page, 'session-ending')
  })

  it('stays quiet while the token is young', async () => {
    const steward = await createConsoleUser(test, ['steward'])
    await signIn(page, test.url, steward)
    await page.getByRole('heading', { name: 'Conflicts', level: 1 }).waitFor()

    expect(await page.getByText('Your session ends at').count()).toBe(0)
  })
})
