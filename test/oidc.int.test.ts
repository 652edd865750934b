import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestRegistry, type TestRegistry } from './harness.ts'

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey']

const AUDIENCE = 'brain-registry'

let jwksServer: Server
let issuer: string
let signingKey: SigningKey
let publicJwk: JWK
let harness: TestRegistry

beforeAll(async () => {
  const pair = await generateKeyPair('ES256')
  signingKey = pair.privateKey
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' }
  // A stand-in OpenID provider on loopback: its discovery document and its key set.
  jwksServer = createServer((request, response) => {
    const documents: Record<string, unknown> = {
      '/.well-known/openid-configuration': { issuer, jwks_uri: `${issuer}/keys` },
      '/keys': { keys: [publicJwk] },
    }
    const document = documents[request.url ?? '']
    response.writeHead(document ? 200 : 404, { 'Content-Type': 'application/json' })
    response.end(JSON.stringify(document ?? {}))
  })
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve))
  issuer = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`

  harness = await startTestRegistry('oidc', {
    OIDC_ISSUER: issuer,
    OIDC_AUDIENCE: AUDIENCE,
    OIDC_ROLE_CLAIM: 'realm_access.roles',
  })
})

afterAll(async () => {
  await harness.stop()
  await new Promise((resolve) => jwksServer.close(resolve))
})

function externalToken(
  roles: string[],
  options: { audience?: string; expiresInSeconds?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ realm_access: { roles } })
    .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
    .setIssuer(issuer)
    .setAudience(options.audience ?? AUDIENCE)
    .setSubject('staff-4711')
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresInSeconds ?? 300))
    .sign(signingKey)
}

async function callAs(token: string, method: string, path: string, body?: unknown) {
  return harness.api(method, path, body, { Authorization: `Bearer ${token}` })
}

describe('external issuer', () => {
  it('takes the roles from the configured claim', async () => {
    const response = await callAs(
      await externalToken(['clinician', 'offline_access']),
      'GET',
      '/auth/me',
    )

    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ id: `${issuer}#staff-4711`, roles: ['clinician'] })
  })

  it('audits writes under issuer and subject', async () => {
    const token = await externalToken(['clinician'])
    const created = await callAs(token, 'POST', '/patients', {
      names: [{ family: 'Oidc', given: ['Test'] }],
      birthDate: '1970',
    })
    const patient = (await created.json()) as { id: string }

    const rows = await harness.registry.db
      .selectFrom('audit_log')
      .select('actor')
      .where('entity_id', '=', patient.id)
      .execute()
    expect(created.status).toBe(201)
    expect(rows.map((row) => row.actor)).toEqual([`${issuer}#staff-4711`])
  })

  it('forbids a role the token lacks', async () => {
    const response = await callAs(await externalToken(['auditor']), 'GET', '/patients')

    expect(response.status).toBe(403)
  })

  it('rejects another audience', async () => {
    const response = await callAs(
      await externalToken(['clinician'], { audience: 'other-api' }),
      'GET',
      '/patients',
    )

    expect(response.status).toBe(401)
    expect(((await response.json()) as { code: string }).code).toBe('TOKEN_INVALID')
  })

  it('rejects an expired token', async () => {
    const response = await callAs(
      await externalToken(['clinician'], { expiresInSeconds: -120 }),
      'GET',
      '/patients',
    )

    expect(response.status).toBe(401)
    expect(((await response.json()) as { code: string }).code).toBe('TOKEN_EXPIRED')
  })

  it('sends external users to their issuer for passwords', async () => {
    const response = await callAs(await externalToken(['clinician']), 'POST', '/auth/password', {
      currentPassword: 'whatever it was',
      newPassword: 'a new password 2026',
    })

    expect(response.status).toBe(409)
    expect(((await response.json()) as { code: string }).code).toBe('EXTERNAL_ACCOUNT')
  })

  it('still accepts the registry tokens', async () => {
    const response = await harness.api('GET', '/auth/me')

    expect(response.status).toBe(200)
  })
})
