import pg from 'pg'
import { inject } from 'vitest'
import { createRegistry, type Registry, type RegistryOverrides } from '../src/app.ts'
import { ROLES, type Role } from '../src/auth/access.ts'
import { FhirClient } from '../src/fhir/fhir-client.ts'
import { deleteSubscriptions, deleteSubscriptionsExcept } from '../src/fhir/subscriptions.ts'
import { loadConfig } from '../src/platform/config.ts'
import { createLogger } from '../src/platform/logger.ts'
import { TEST_CONSOLE_DIR } from './browser/console-build.ts'

export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/brain_registry_test'

export interface TestRegistry {
  registry: Registry
  url: string
  /** Client acting as an outside hospital: its writes do not carry the registry's meta.source. */
  hospital: FhirClient
  /** The registry identifier system of this file's registry. */
  identifierSystem: string
  /**
   * Calls the registry API as a user holding every role, unless `headers` names its own
   * Authorization; an empty Authorization sends none.
   */
  api(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Response>
  /** User id of the caller that `api` signs in as by default, the audit actor of its writes. */
  operatorId: string
  /** Creates a user with exactly these roles and returns an `Authorization` header value for it. */
  authorizationFor(roles: readonly Role[]): Promise<string>
  stop(): Promise<void>
}

/** Subscription id prefixes of the registries this test file started. */
const startedPrefixes = new Set<string>()

/**
 * Starts a registry on its own Postgres schemas, its own Subscriptions and its own registry
 * identifier system, so each test file works only on its own data. `configOverrides` sets further
 * variables, such as MERGE_RULES or CLOCK_SKEW_MS, and `registryOverrides` replaces outside
 * dependencies, such as the fetch that reaches HAPI.
 */
export async function startTestRegistry(
  name: string,
  configOverrides: Record<string, string> = {},
  registryOverrides: RegistryOverrides = {},
): Promise<TestRegistry> {
  const suffix = `${name}_${Date.now().toString(36)}`.toLowerCase().replace(/[^a-z0-9_]/g, '_')
  // A file that runs a HAPI of its own names it in FHIR_BASE_URL; the hospital client follows it.
  const fhirBaseUrl = configOverrides.FHIR_BASE_URL ?? inject('fhirBaseUrl')
  const hospital = new FhirClient({
    baseUrl: fhirBaseUrl,
    timeoutMs: 30_000,
    sourceUri: 'https://hospital.example.org/ehr',
  })
  // Files run one at a time, so a test Subscription that no registry of this file owns was left
  // by an earlier file that failed to remove it.
  await deleteSubscriptionsExcept(hospital, 'test-', startedPrefixes)
  const config = loadConfig(
    {},
    {
      DATABASE_URL: TEST_DATABASE_URL,
      DATABASE_SCHEMA: `registry_${suffix}`,
      QUEUE_SCHEMA: `queue_${suffix}`,
      FHIR_BASE_URL: fhirBaseUrl,
      PORT: '0',
      SUBSCRIPTION_ID_PREFIX: `test-${suffix.replaceAll('_', '-')}`.slice(0, 40),
      REGISTRY_IDENTIFIER_SYSTEM: `https://brain-registry.example.org/test/${suffix}`,
      // Its own meta.source, so that no other test registry on the same HAPI takes this one's
      // writes for its own.
      FHIR_SOURCE_URI: `https://brain-registry.example.org/test/${suffix}/source`,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      // A first admin, so that the registry does not warn at start that it has no user.
      BOOTSTRAP_ADMIN_USERNAME: 'test-first-admin',
      BOOTSTRAP_ADMIN_PASSWORD: crypto.randomUUID(),
      // Where buildConsole() puts the console, so that a test never serves an old build.
      CONSOLE_DIR: TEST_CONSOLE_DIR,
      ...configOverrides,
    },
  )
  startedPrefixes.add(config.SUBSCRIPTION_ID_PREFIX)
  const registry = await createRegistry(config, {
    logger: createLogger(config.LOG_LEVEL, { test: name }),
    ...registryOverrides,
  })
  const dropSchemas = async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL })
    await client.connect()
    await client.query(`drop schema if exists ${config.DATABASE_SCHEMA} cascade`)
    await client.query(`drop schema if exists ${config.QUEUE_SCHEMA} cascade`)
    await client.end()
  }
  const createUser = async (roles: readonly Role[]) => {
    const user = await registry.users.create(
      {
        username: `test-${roles.join('-') || 'none'}-${crypto.randomUUID().slice(0, 8)}`,
        password: crypto.randomUUID(),
        roles,
      },
      { actor: 'test-setup', requestId: null },
    )
    const { token } = await registry.tokens.issue(user.id, user.roles)
    return { id: user.id, authorization: `Bearer ${token}` }
  }
  const authorizationFor = async (roles: readonly Role[]) => (await createUser(roles)).authorization
  let url: string
  let operator: { id: string; authorization: string }
  try {
    ;({ url } = await registry.start())
    operator = await createUser(ROLES)
  } catch (error) {
    // Subscriptions left on HAPI would keep sending to a closed port, and HAPI's retries of those
    // deliveries slow the activation of every later file's Subscriptions.
    await deleteSubscriptions(registry.fhir, config.SUBSCRIPTION_ID_PREFIX)
    await registry.stop()
    await dropSchemas()
    throw error
  }

  return {
    registry,
    url,
    hospital,
    identifierSystem: config.REGISTRY_IDENTIFIER_SYSTEM,
    api: (method, path, body, headers = {}) => {
      const named = Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')
      const sent = new Headers({ 'Content-Type': 'application/json', ...headers })
      if (!named) sent.set('Authorization', operator.authorization)
      if (sent.get('Authorization') === '') sent.delete('Authorization')
      return fetch(`${url}${path}`, {
        method,
        headers: sent,
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    },
    operatorId: operator.id,
    authorizationFor,
    async stop() {
      try {
        await deleteSubscriptions(registry.fhir, config.SUBSCRIPTION_ID_PREFIX)
      } finally {
        await registry.stop()
        await dropSchemas()
      }
    },
  }
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  description: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 45_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}`, {
        cause: lastError,
      })
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}
