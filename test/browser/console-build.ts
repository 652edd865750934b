import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Folder that the test registries serve the console from: one per test process, so that builds
 * of files running at the same time, and the console/dist folder that `npm start` serves, do not
 * replace each other's files.
 */
export const TEST_CONSOLE_DIR = join(tmpdir(), `brain-registry-console-${process.pid}`)

let built: Promise<unknown> | undefined

/** Builds the web console from the current sources into TEST_CONSOLE_DIR, once per test process. */
export function buildConsole(): Promise<unknown> {
  // Vite is imported here, not at the top, because every integration file loads this module
  // through the harness and most of them never build the console.
  built ??= import('vite').then(({ build }) =>
    build({
      configFile: new URL('../../console/vite.config.ts', import.meta.url).pathname,
      logLevel: 'warn',
      build: { outDir: TEST_CONSOLE_DIR, emptyOutDir: true },
    }),
  )
  return built
}
