import { execFile } from 'node:child_process'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

/**
 * Folder that the test registries serve the console from: one per test process, so that builds
 * of files running at the same time, and the console/dist folder that `npm start` serves, do not
 * replace each other's files.
 */
export const TEST_CONSOLE_DIR = join(tmpdir(), `brain-registry-console-${process.pid}`)

const ROOT = join(import.meta.dirname, '..', '..')

let built: Promise<unknown> | undefined

/**
 * Builds the web console from the current sources into TEST_CONSOLE_DIR, once per test process.
 * The build runs in a child process with NODE_ENV=production, as `npm run build` does, because
 * vitest sets NODE_ENV=test and Vite would then bundle React's development build.
 */
export function buildConsole(): Promise<unknown> {
  if (built === undefined) {
    process.once('exit', () => {
      rmSync(TEST_CONSOLE_DIR, { recursive: true, force: true })
    })
  }
  built ??= promisify(execFile)(
    join(ROOT, 'node_modules', '.bin', 'vite'),
    [
      'build',
      '--config',
      join(ROOT, 'console', 'vite.config.ts'),
      '--outDir',
      TEST_CONSOLE_DIR,
      '--emptyOutDir',
      '--logLevel',
      'warn',
    ],
    { cwd: ROOT, env: { ...process.env, NODE_ENV: 'production' } },
  )
  return built
}
