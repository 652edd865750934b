import type { TestProject } from 'vitest/node'
import { ensureHapiBuilt, ensureHapiDatabase, startHapi } from '../scripts/hapi.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    fhirBaseUrl: string
  }
}

/**
 * Builds and starts the project's HAPI FHIR server for the integration tests, or reuses one
 * that already responds on HAPI_PORT, and stops it afterwards if it started it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (message: string) => {
    process.stdout.write(`[hapi] ${message}\n`)
  }
  await ensureHapiBuilt({ log })
  await ensureHapiDatabase({ log })
  const hapi = await startHapi({ log })
  project.provide('fhirBaseUrl', hapi.baseUrl)
  return async () => {
    await hapi.stop()
  }
}
