import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger, type Logger } from '../src/platform/logger.ts'
import { startTestRegistry, type TestRegistry } from './harness.ts'

const ADMIN = { username: 'first.admin', password: 'first admin password 2026' }

/** Log lines of the registry, as parsed JSON objects. */
const lines: Record<string, unknown>[] = []

function capturingLogger(): Logger {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      }
      callback()
    },
  })
  return createLogger('debug', { test: 'auth' }, stream)
}

let harness: TestRegistry

beforeAll(async () => {
  harness = await startTestRegistry(
    'auth',
    {
      BOOTSTRAP_ADMIN_USERNAME: ADMIN.username,
      BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '3',
      LOGIN_MAX_FAILURES_PER_ADDRESS: '50',
    },
    { logger: capturingLogger() },
  )
})

afterAll(async () => {
  await harness.stop()
})

async function signIn(
  username: string,
  password: string,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await harness.api(
    'POST',
    '/auth/token',
    { username, password },
    {
      Authorization: '',
    },
  )
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
    headers: response.headers,
  }
}

async function as(token: string, method: string, path: string, body?: unknown) {
  return harness.api(method, path, body, { Authorization: `Bearer ${token}` })
}

describe('sign-in', () => {
  it('issues a token to the first admin', async () => {
    const { status, body, headers } = await signIn(ADMIN.username, ADMIN.password)

    expect(status).toBe(200)
    expect(body.token_type).toBe('Bearer')
    expect(body.expires_in).toBe(900)
    expect(body.roles).toEqual(['admin'])
    expect(headers.get('cache-control')).toBe('no-store')
    const me = await as(String(body.access_token), 'GET', '/auth/me')
    expect(((await me.json()) as { roles: string[] }).roles).toEqual(['admin'])
  })

  it('matches the username in any case', async () => {
    const { status } = await signIn(ADMIN.username.toUpperCase(), ADMIN.password)

    expect(status).toBe(200)
  })

  it('answers a wrong password and an unknown user alike', async () => {
    const wrong = await signIn(ADMIN.username, 'not the password at all')
    const unknown = await signIn('nobody.here', 'not the password at all')

    expect(wrong.status).toBe(401)
    expect(unknown.status).toBe(401)
    expect(wrong.body.code).toBe('INVALID_CREDENTIALS')
    expect(unknown.body.code).toBe('INVALID_CREDENTIALS')
    expect(wrong.body.detail).toBe(unknown.body.detail)
  })

  it('locks an account after repeated failures', async () => {
    const created = await harness.api('POST', '/users', {
      username: 'locked.clinician',
      password: 'clinician password 2026',
      roles: ['clinician'],
    })
    expect(created.status).toBe(201)

    for (let attempt = 1; attempt <= 3; attempt++) {
      expect((await signIn('locked.clinician', `wrong password ${attempt}`)).status).toBe(401)
    }
    const locked = await signIn('locked.clinician', 'clinician password 2026')

    expect(locked.status).toBe(429)
    expect(locked.body.code).toBe('LOGIN_RATE_LIMITED')
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0)
    const warnings = lines.filter(
      (line) => line.message === 'Sign-in locked after repeated failures',
    )
    expect(warnings.length).toBeGreaterThanOrEqual(1)
    expect(JSON.stringify(lines)).not.toContain('wrong password')
  })

  it('counts attempts sent together', async () => {
    await harness.api('POST', '/users', {
      username: 'burst.target',
      password: 'burst target password 2026',
      roles: ['clinician'],
    })
    const attempts = [
      ...Array.from({ length: 15 }, (_, index) => `wrong burst password ${index}`),
      'burst target password 2026',
    ]

    const statuses = (
      await Promise.all(attempts.map((password) => signIn('burst.target', password)))
    ).map((result) => result.status)

    // At most 3 attempts, the account limit here, reach the password check.
    expect(statuses.filter((status) => status !== 429).length).toBeLessThanOrEqual(3)
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(13)
    const keys = await harness.registry.db.selectFrom('login_failures').select('key').execute()
    expect(JSON.stringify(keys)).not.toContain('burst')
  })

  it('rejects unknown fields', async () => {
    const response = await harness.api(
      'POST',
      '/auth/token',
      { username: ADMIN.username, password: ADMIN.password, role: 'admin' },
      { Authorization: '' },
    )

    expect(response.status).toBe(400)
  })
})

describe('users', () => {
  let adminToken: string

  beforeAll(async () => {
    adminToken = String((await signIn(ADMIN.username, ADMIN.password)).body.access_token)
  })

  it('creates a user without showing the password hash', async () => {
    const response = await as(adminToken, 'POST', '/users', {
      username: 'new.steward',
      password: 'steward password 2026',
      roles: ['steward'],
    })
    const body = (await response.json()) as Record<string, unknown>

    expect(response.status).toBe(201)
    expect(body.roles).toEqual(['steward'])
    expect(JSON.stringify(body)).not.toContain('scrypt')
  })

  it('rejects a username taken in another case', async () => {
    const response = await as(adminToken, 'POST', '/users', {
      username: 'NEW.STEWARD',
      password: 'steward password 2026',
      roles: ['steward'],
    })

    expect(response.status).toBe(409)
    expect(((await response.json()) as { code: string }).code).toBe('USERNAME_TAKEN')
  })

  it('rejects a short password', async () => {
    const response = await as(adminToken, 'POST', '/users', {
      username: 'short.password',
      password: 'too short',
      roles: ['clinician'],
    })

    expect(response.status).toBe(400)
  })

  it('applies a role change to a token already issued', async () => {
    const created = (await (
      await as(adminToken, 'POST', '/users', {
        username: 'role.change',
        password: 'role change password 2026',
        roles: ['clinician'],
      })
    ).json()) as { id: string }
    const token = String(
      (await signIn('role.change', 'role change password 2026')).body.access_token,
    )
    expect((await as(token, 'GET', '/patients')).status).toBe(200)

    const changed = await as(adminToken, 'PATCH', `/users/${created.id}`, { roles: ['auditor'] })

    expect(changed.status).toBe(200)
    expect((await as(token, 'GET', '/patients')).status).toBe(403)
  })

  it('rejects the tokens of a disabled user', async () => {
    const created = (await (
      await as(adminToken, 'POST', '/users', {
        username: 'to.disable',
        password: 'disable me password 2026',
        roles: ['clinician'],
      })
    ).json()) as { id: string }
    const token = String((await signIn('to.disable', 'disable me password 2026')).body.access_token)

    await as(adminToken, 'PATCH', `/users/${created.id}`, { disabled: true })

    const response = await as(token, 'GET', '/patients')
    expect(response.status).toBe(401)
    expect((await signIn('to.disable', 'disable me password 2026')).status).toBe(401)

    await as(adminToken, 'PATCH', `/users/${created.id}`, { disabled: false })
    const afterEnabling = await as(token, 'GET', '/patients')
    expect(afterEnabling.status).toBe(401)
    expect(((await afterEnabling.json()) as { code: string }).code).toBe('TOKEN_REVOKED')
    expect((await signIn('to.disable', 'disable me password 2026')).status).toBe(200)
  })

  it('audits user changes without the password', async () => {
    const created = (await (
      await as(adminToken, 'POST', '/users', {
        username: 'audited.user',
        password: 'audited password 2026',
        roles: ['clinician'],
      })
    ).json()) as { id: string }
    await as(adminToken, 'PATCH', `/users/${created.id}`, { password: 'another password 2026' })

    const rows = await harness.registry.db
      .selectFrom('audit_log')
      .selectAll()
      .where('entity_type', '=', 'user')
      .where('entity_id', '=', created.id)
      .orderBy('id')
      .execute()

    expect(rows.map((row) => row.action)).toEqual(['create', 'update'])
    expect(rows[1]?.after).toMatchObject({ passwordChanged: true })
    expect(JSON.stringify(rows)).not.toContain('scrypt')
    expect(JSON.stringify(rows)).not.toContain('another password')
  })
  it('changes the own password after checking the current one', async () => {
    await as(adminToken, 'POST', '/users', {
      username: 'own.password',
      password: 'own password before 2026',
      roles: ['auditor'],
    })
    const token = String(
      (await signIn('own.password', 'own password before 2026')).body.access_token,
    )

    const wrong = await as(token, 'POST', '/auth/password', {
      currentPassword: 'not the current password',
      newPassword: 'own password after 2026',
    })
    const changed = await as(token, 'POST', '/auth/password', {
      currentPassword: 'own password before 2026',
      newPassword: 'own password after 2026',
    })

    expect(wrong.status).toBe(403)
    expect(((await wrong.json()) as { code: string }).code).toBe('INVALID_CURRENT_PASSWORD')
    expect(changed.status).toBe(204)
    const stale = await as(token, 'GET', '/auth/me')
    expect(stale.status).toBe(401)
    expect(((await stale.json()) as { code: string }).code).toBe('TOKEN_REVOKED')
    expect((await signIn('own.password', 'own password before 2026')).status).toBe(401)
    expect((await signIn('own.password', 'own password after 2026')).status).toBe(200)
  })

  it('lists users in pages', async () => {
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const query: string = cursor === null ? '' : `&cursor=${cursor}`
      const response = await as(adminToken, 'GET', `/users?limit=2${query}`)
      const page = (await response.json()) as {
        items: { username: string }[]
        nextCursor: string | null
      }
      expect(response.status).toBe(200)
      expect(page.items.length).toBeLessThanOrEqual(2)
      seen.push(...page.items.map((user) => user.username))
      cursor = page.nextCursor
    } while (cursor !== null)

    expect(new Set(seen).size).toBe(seen.length)
    expect(seen).toEqual(expect.arrayContaining([ADMIN.username, 'new.steward', 'role.change']))
  })

  it('keeps the last enabled admin', async () => {
    // The harness's operator and the first admin are the two admins; demoting the first leaves one.
    const first = (await (await as(adminToken, 'GET', '/auth/me')).json()) as { id: string }
    const operator = (await (await harness.api('GET', '/auth/me')).json()) as { id: string }
    expect((await harness.api('PATCH', `/users/${first.id}`, { roles: ['steward'] })).status).toBe(
      200,
    )

    const demoted = await harness.api('PATCH', `/users/${operator.id}`, { roles: ['steward'] })
    const disabled = await harness.api('PATCH', `/users/${operator.id}`, { disabled: true })

    expect(demoted.status).toBe(409)
    expect(((await demoted.json()) as { code: string }).code).toBe('LAST_ADMIN')
    expect(disabled.status).toBe(409)
  })
})
