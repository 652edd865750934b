import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import type { Page } from 'playwright-core'
import { expect } from 'vitest'
import type { Role } from '../../src/auth/access.ts'
import type { TestRegistry } from '../harness.ts'

export interface ConsoleUser {
  id: string
  username: string
  password: string
}

/** Creates a registry user with exactly these roles and a password to type into the sign-in. */
export async function createConsoleUser(
  test: TestRegistry,
  roles: readonly Role[],
): Promise<ConsoleUser> {
  const username = `${roles.join('-') || 'none'}-${crypto.randomUUID().slice(0, 8)}`
  const password = `pw-${crypto.randomUUID()}`
  const user = await test.registry.users.create(
    { username, password, roles },
    { actor: 'test-setup', requestId: null },
  )
  return { id: user.id, username, password }
}

/** Opens the console and signs in through its form, as a person would. */
export async function signIn(page: Page, baseUrl: string, user: ConsoleUser): Promise<void> {
  await page.goto(`${baseUrl}/console/`)
  await page.getByLabel('Username').fill(user.username)
  await page.getByLabel('Password').fill(user.password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('button', { name: 'Sign out' }).waitFor()
}

const require = createRequire(import.meta.url)
let axeSource: Promise<string> | undefined

interface AxeViolation {
  id: string
  impact: string | null
  help: string
  nodes: { target: unknown[] }[]
}

/**
 * Runs axe-core's WCAG 2.1 A and AA rules on the page as it is now and fails on any violation.
 * The script is evaluated through the DevTools protocol, which the page's Content-Security-Policy
 * does not block.
 */
export async function expectNoAccessibilityViolations(page: Page): Promise<void> {
  axeSource ??= readFile(require.resolve('axe-core/axe.min.js'), 'utf8')
  await page.evaluate(await axeSource)
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as { axe: { run: (...args: unknown[]) => Promise<unknown> } }
    ).axe
    const results = (await axe.run({
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    })) as { violations: AxeViolation[] }
    return results.violations.map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      help: violation.help,
      targets: violation.nodes.map((node) => node.target.join(' ')),
    }))
  })
  expect(violations).toEqual([])
}

/** Reads the tag, id and text of the element that has the keyboard focus. */
export async function focusedElement(
  page: Page,
): Promise<{ tag: string; id: string; text: string }> {
  // A string expression, because the test code is type-checked without the DOM library.
  return page.evaluate<{ tag: string; id: string; text: string }>(
    '({ tag: document.activeElement?.tagName ?? "", id: document.activeElement?.id ?? "", text: document.activeElement?.textContent ?? "" })',
  )
}
