import type { TestProject } from 'vitest/node'
import { ensureHapiBuilt, ensureHapiDatabase, startHapi } from '../scripts/hapi.ts'
import { FhirClient } from '../src/fhir/fhir-client.ts'
import { deleteSubscriptionsExcept } from '../src/fhir/subscriptions.ts'

const DEFAULT_TEST_HAPI_PORT = 8081
const DEFAULT_TEST_HAPI_DB_NAME = 'brain_registry_hapi_test'

declare module 'vitest' {
  export interface ProvidedContext {
    fhirBaseUrl: string
  }
}

/**
 * Builds and starts the project's HAPI FHIR server for the integration tests, or reuses one
 * that already responds on TEST_HAPI_PORT, and stops it afterwards if it started it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (message: string) => {
    process.stdout.write(`[hapi] ${message}\n`)
  }
  // A HAPI and database of their own, apart from the ones `npm start` uses: the Subscriptions of a
  // stopped development registry stay active there, and HAPI's retries of their deliveries slow
  // the activation of the tests' Subscriptions.
  const options = {
    port: Number(process.env.TEST_HAPI_PORT ?? DEFAULT_TEST_HAPI_PORT),
    dbName: process.env.TEST_HAPI_DB_NAME ?? DEFAULT_TEST_HAPI_DB_NAME,
    log,
  }
  await ensureHapiBuilt(options)
  await ensureHapiDatabase(options)
  const hapi = await startHapi(options)
  const fhir = new FhirClient({
    baseUrl: hapi.baseUrl,
    timeoutMs: 30_000,
    sourceUri: 'urn:brain-registry:tests',
  })
  const removed = await deleteSubscriptionsExcept(fhir, 'test-', new Set())
  if (removed > 0) log(`Deleted ${removed} Subscriptions that earlier test runs left behind`)
  project.provide('fhirBaseUrl', hapi.baseUrl)
  return async () => {
    await deleteSubscriptionsExcept(fhir, 'test-', new Set())
    await hapi.stop()
  }
}
