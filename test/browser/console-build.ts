import { build } from 'vite'

let built: Promise<unknown> | undefined

/**
 * Builds the web console into console/dist, where a registry serves it by default, once per test
 * file, so the browser tests always run the current sources.
 */
export function buildConsole(): Promise<unknown> {
  built ??= build({
    configFile: new URL('../../console/vite.config.ts', import.meta.url).pathname,
    logLevel: 'warn',
  })
  return built
}
