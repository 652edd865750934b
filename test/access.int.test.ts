import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  PUBLIC_EXTENSION,
  ROLES,
  ROLES_EXTENSION,
  SUBSCRIPTION_SECRET_SCHEME,
  type Role,
} from '../src/auth/access.ts'
import { startTestRegistry, type TestRegistry } from './harness.ts'

/** Routes open to every caller: health checks, sign-in and the API documentation. */
const OPEN_OPERATIONS = new Set([
  'GET /health/live',
  'GET /health/ready',
  'POST /auth/token',
  'GET /openapi.json',
  'GET /docs',
  // The web console's page and built files: they hold no data, which the page reads through the
  // API with the signed-in user's token.
  'GET /',
  'GET /console',
  'GET /console/assets/*',
  'GET /console/*',
])

const SECRET = 'access-test-subscription-secret'

interface Operation {
  method: string
  path: string
  roles: Role[] | undefined
  isPublic: boolean
  usesSubscriptionSecret: boolean
}

interface OpenApiOperation {
  security?: Record<string, unknown>[]
  [extension: string]: unknown
}

/** Fills path parameters with values that pass validation but name nothing that exists. */
function concretePath(path: string): string {
  return path
    .replace('{entityType}', 'patient')
    .replace('{type}', 'Patient')
    .replace(/\{[^}]+\}/g, '6b0f3a52-4c0e-4d6a-9d1e-8f3b8c0e2a11')
}

let harness: TestRegistry
let operations: Operation[]
const authorization = new Map<Role, string>()

beforeAll(async () => {
  harness = await startTestRegistry('access', { SUBSCRIPTION_SECRET: SECRET })
  for (const role of ROLES) authorization.set(role, await harness.authorizationFor([role]))

  const document = (await (await harness.api('GET', '/openapi.json')).json()) as {
    paths: Record<string, Record<string, OpenApiOperation>>
  }
  operations = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      roles: operation[ROLES_EXTENSION] as Role[] | undefined,
      isPublic: operation[PUBLIC_EXTENSION] === true,
      usesSubscriptionSecret: (operation.security ?? []).some(
        (requirement) => SUBSCRIPTION_SECRET_SCHEME in requirement,
      ),
    })),
  )
})

afterAll(async () => {
  await harness.stop()
})

function call(operation: Operation, headers: Record<string, string>): Promise<Response> {
  const body = ['POST', 'PUT', 'PATCH'].includes(operation.method) ? {} : undefined
  return harness.api(operation.method, concretePath(operation.path), body, headers)
}

describe('route access', () => {
  it('covers every route of the app', () => {
    const documented = new Set(
      operations.map((operation) => `${operation.method} ${operation.path}`),
    )
    const registered = harness.registry.app.routes
      .filter((route) => route.method !== 'ALL')
      .map((route) => `${route.method} ${route.path.replace(/:([A-Za-z]+)/g, '{$1}')}`)
    const undocumented = registered.filter(
      (route) => !documented.has(route) && !OPEN_OPERATIONS.has(route),
    )

    expect(undocumented).toEqual([])
    expect(operations.length).toBeGreaterThan(25)
  })

  it('declares a rule on every route', () => {
    const withoutRule = operations
      .filter(
        (operation) =>
          operation.roles === undefined && !operation.isPublic && !operation.usesSubscriptionSecret,
      )
      .map((operation) => `${operation.method} ${operation.path}`)

    expect(withoutRule).toEqual([])
  })

  it('opens only the health, sign-in and documentation routes', () => {
    const open = operations
      .filter((operation) => operation.isPublic)
      .map((operation) => `${operation.method} ${operation.path}`)

    expect(open.filter((route) => !OPEN_OPERATIONS.has(route))).toEqual([])
  })

  it('applies each role rule', async () => {
    const failures: string[] = []
    let checks = 0
    for (const operation of operations) {
      const name = `${operation.method} ${operation.path}`
      if (operation.isPublic) {
        const response = await call(operation, { Authorization: '' })
        checks++
        if ([401, 403].includes(response.status))
          failures.push(`${name} without a token: ${response.status}`)
        continue
      }

      const anonymous = await call(operation, { Authorization: '' })
      checks++
      if (anonymous.status !== 401) failures.push(`${name} without a token: ${anonymous.status}`)
      const forged = await call(operation, { Authorization: 'Bearer not.a.token' })
      checks++
      if (forged.status !== 401) failures.push(`${name} with a bad token: ${forged.status}`)

      for (const role of ROLES) {
        const response = await call(operation, { Authorization: authorization.get(role) ?? '' })
        checks++
        const allowed = operation.roles?.includes(role) ?? false
        // The receiver takes only its secret, so a registry token of any role gets 401 there.
        let expected = allowed ? 'allowed' : '403'
        if (operation.usesSubscriptionSecret) expected = '401'
        const actual = [401, 403].includes(response.status) ? String(response.status) : 'allowed'
        if (actual !== expected) {
          failures.push(`${name} as ${role}: expected ${expected}, got ${response.status}`)
        }
      }
    }
    console.info(`Route access: ${operations.length} operations, ${checks} checks`)

    expect(failures).toEqual([])
  })

  it('accepts the subscription secret on the receiver', async () => {
    const response = await harness.api('POST', '/fhir-hook', undefined, {
      Authorization: `Bearer ${SECRET}`,
    })

    expect(response.status).toBe(204)
  })

  it('answers 401 with a challenge and a code', async () => {
    const response = await harness.api('GET', '/patients', undefined, { Authorization: '' })
    const body = (await response.json()) as { code: string }

    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /)
    expect(body.code).toBe('TOKEN_MISSING')
  })
})
