import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'

/** Debian's Chromium, installed by scripts/install-chromium.sh when missing. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Where the browser tests save their screenshots; CI keeps the folder as an artifact. */
export const ARTIFACTS_DIR =
  process.env.TEST_ARTIFACTS_DIR ?? join(import.meta.dirname, '..', '..', 'test-results', 'console')

// The flags keep Chromium off the network except for the pages under test: this machine's
// network is closed, and Chromium's own background connections (updates, sync, Safe Browsing)
// would be refused many at a time. --no-sandbox because the tests may run as root.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** Starts headless Chromium with a fresh profile, installing Debian's package first if needed. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    execFileSync(
      'bash',
      [join(import.meta.dirname, '..', '..', 'scripts', 'install-chromium.sh')],
      {
        stdio: 'inherit',
      },
    )
  }
  // Playwright gives every launch a new temporary --user-data-dir and removes it at close.
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS })
}

/** Saves a full-page screenshot as `<name>.png` in ARTIFACTS_DIR and returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true })
  const path = join(ARTIFACTS_DIR, `${name}.png`)
  await page.screenshot({ path, fullPage: true })
  return path
}
