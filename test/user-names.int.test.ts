import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROLES } from '../src/auth/access.ts'
import { MAX_USER_NAME_IDS } from '../src/auth/auth.schemas.ts'
import { startTestRegistry, type TestRegistry } from './harness.ts'

interface UserNames {
  items: { id: string; username: string }[]
}

let harness: TestRegistry
let alice: { id: string; username: string }
let bob: { id: string; username: string }

beforeAll(async () => {
  harness = await startTestRegistry('user_names')
  const create = (username: string) =>
    harness.registry.users.create(
      { username, password: crypto.randomUUID(), roles: ['clinician'] },
      { actor: 'test-setup', requestId: null },
    )
  alice = await create('names.alice')
  bob = await create('names.bob')
})

afterAll(async () => {
  await harness.stop()
})

function namesPath(ids: readonly string[]): string {
  const query = new URLSearchParams(ids.map((id): [string, string] => ['id', id]))
  return `/users/names?${query.toString()}`
}

describe('GET /users/names', () => {
  it('returns the usernames of local users', async () => {
    const response = await harness.api('GET', namesPath([alice.id, bob.id]))
    const body = (await response.json()) as UserNames

    expect(response.status).toBe(200)
    expect(body.items).toEqual([
      { id: alice.id, username: 'names.alice' },
      { id: bob.id, username: 'names.bob' },
    ])
  })

  it('accepts a single id', async () => {
    const response = await harness.api('GET', namesPath([bob.id]))
    const body = (await response.json()) as UserNames

    expect(response.status).toBe(200)
    expect(body.items).toEqual([{ id: bob.id, username: 'names.bob' }])
  })

  it('leaves out unknown ids', async () => {
    const unknown = crypto.randomUUID()
    const response = await harness.api('GET', namesPath([unknown, alice.id, alice.id]))
    const body = (await response.json()) as UserNames

    expect(response.status).toBe(200)
    expect(body.items).toEqual([{ id: alice.id, username: 'names.alice' }])
  })

  it('rejects a non-UUID id with 400', async () => {
    const response = await harness.api('GET', namesPath([alice.id, 'fhir-merge']))
    const body = (await response.json()) as { code: string; errors: { path: string }[] }

    expect(response.status).toBe(400)
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(body.code).toBe('VALIDATION_FAILED')
    expect(body.errors.length).toBeGreaterThan(0)
  })

  it('rejects a missing id with 400', async () => {
    const response = await harness.api('GET', '/users/names')
    const body = (await response.json()) as { code: string }

    expect(response.status).toBe(400)
    expect(body.code).toBe('VALIDATION_FAILED')
  })

  it('rejects too many ids with 400', async () => {
    const ids = Array.from({ length: MAX_USER_NAME_IDS + 1 }, () => crypto.randomUUID())
    const response = await harness.api('GET', namesPath(ids))
    const body = (await response.json()) as { code: string }

    expect(response.status).toBe(400)
    expect(body.code).toBe('VALIDATION_FAILED')
  })

  it('accepts the maximum ids', async () => {
    const ids = Array.from({ length: MAX_USER_NAME_IDS - 1 }, () => crypto.randomUUID())
    const response = await harness.api('GET', namesPath([...ids, alice.id]))
    const body = (await response.json()) as UserNames

    expect(response.status).toBe(200)
    expect(body.items).toEqual([{ id: alice.id, username: 'names.alice' }])
  })

  it.each(ROLES)('is open to the %s role', async (role) => {
    const authorization = await harness.authorizationFor([role])
    const response = await harness.api('GET', namesPath([alice.id]), undefined, {
      Authorization: authorization,
    })
    const body = (await response.json()) as UserNames

    expect(response.status).toBe(200)
    expect(body.items).toEqual([{ id: alice.id, username: 'names.alice' }])
  })

  it('rejects a missing token with 401', async () => {
    const response = await harness.api('GET', namesPath([alice.id]), undefined, {
      Authorization: '',
    })
    const body = (await response.json()) as { code: string }

    expect(response.status).toBe(401)
    expect(body.code).toBe('TOKEN_MISSING')
  })

  it('documents id as a repeated query parameter', async () => {
    const document = (await (await harness.api('GET', '/openapi.json')).json()) as {
      paths: Record<string, { get?: { parameters?: Record<string, unknown>[] } }>
    }
    const parameters = document.paths['/users/names']?.get?.parameters ?? []

    expect(parameters).toContainEqual(
      expect.objectContaining({ name: 'id', in: 'query', required: true, explode: true }),
    )
  })

  it('keeps GET /users/{id} for admins', async () => {
    const response = await harness.api('GET', `/users/${alice.id}`)
    const body = (await response.json()) as { username: string }

    expect(response.status).toBe(200)
    expect(body.username).toBe('names.alice')
  })
})
