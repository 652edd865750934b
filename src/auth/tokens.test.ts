import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppError } from '../platform/errors.ts'
import { TokenService, rolesOf, type TokenServiceDeps } from './tokens.ts'

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey']

const NOW = new Date('2026-06-01T12:00:00Z')
const clock = { now: () => NOW }
const SECRET = 'k'.repeat(48)
const ISSUER = 'urn:brain-registry:test'
const EXTERNAL_ISSUER = 'https://login.example.org/realms/hospital'
const AUDIENCE = 'brain-registry-api'

function service(overrides: Partial<TokenServiceDeps> = {}): TokenService {
  return new TokenService({ clock, secret: SECRET, issuer: ISSUER, ttlSeconds: 900, ...overrides })
}

async function rejectionCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    if (error instanceof AppError) return error.code
    throw error
  }
  return 'ACCEPTED'
}

function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000)
}

/** Builds a JWT with `alg: none` and no signature, which no verifier may accept. */
function unsignedToken(payload: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(payload)}.`
}

describe('local tokens', () => {
  it('verifies a token it issued', async () => {
    const tokens = service()
    const { token, expiresIn } = await tokens.issue('user-1', ['clinician'])

    expect(expiresIn).toBe(900)
    expect(await tokens.verify(token)).toEqual({ kind: 'local', userId: 'user-1', issuedAt: NOW })
  })

  it('rejects an expired token', async () => {
    const { token } = await service().issue('user-1', ['clinician'])
    const later = service({ clock: { now: () => new Date(NOW.getTime() + 931_000) } })

    expect(await rejectionCode(later.verify(token))).toBe('TOKEN_EXPIRED')
  })

  it('accepts a token within the clock tolerance', async () => {
    const { token } = await service().issue('user-1', ['clinician'])
    const later = service({ clock: { now: () => new Date(NOW.getTime() + 920_000) } })

    expect(await later.verify(token)).toEqual({ kind: 'local', userId: 'user-1', issuedAt: NOW })
  })

  it('rejects a token signed with another key', async () => {
    const { token } = await service({ secret: 'x'.repeat(48) }).issue('user-1', ['admin'])

    expect(await rejectionCode(service().verify(token))).toBe('TOKEN_INVALID')
  })

  it('rejects alg none', async () => {
    const token = unsignedToken({
      iss: ISSUER,
      aud: ISSUER,
      sub: 'user-1',
      iat: seconds(NOW),
      exp: seconds(NOW) + 600,
    })

    expect(await rejectionCode(service().verify(token))).toBe('TOKEN_INVALID')
  })

  it('rejects a changed payload', async () => {
    const { token } = await service().issue('user-1', ['clinician'])
    const [header, , signature] = token.split('.')
    const payload = Buffer.from(
      JSON.stringify({
        iss: ISSUER,
        aud: ISSUER,
        sub: 'user-2',
        iat: seconds(NOW),
        exp: seconds(NOW) + 600,
      }),
    ).toString('base64url')

    expect(await rejectionCode(service().verify(`${header}.${payload}.${signature}`))).toBe(
      'TOKEN_INVALID',
    )
  })

  it('verifies a known token again', async () => {
    const tokens = service()
    const { token } = await tokens.issue('user-1', ['clinician'])
    await tokens.verify(token)

    expect(await tokens.verify(token)).toEqual({ kind: 'local', userId: 'user-1', issuedAt: NOW })
  })

  it('rejects a known token once it expires', async () => {
    let now = NOW
    const tokens = service({ clock: { now: () => now } })
    const { token } = await tokens.issue('user-1', ['clinician'])
    await tokens.verify(token)
    now = new Date(NOW.getTime() + 920_000)
    await tokens.verify(token)
    now = new Date(NOW.getTime() + 931_000)

    expect(await rejectionCode(tokens.verify(token))).toBe('TOKEN_EXPIRED')
  })

  it('rejects a changed signature of a known token', async () => {
    const tokens = service()
    const { token } = await tokens.issue('user-1', ['clinician'])
    await tokens.verify(token)
    const [header, payload, signature = ''] = token.split('.')
    const changed = `${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`

    expect(await rejectionCode(tokens.verify(`${header}.${payload}.${changed}`))).toBe(
      'TOKEN_INVALID',
    )
  })

  it('rejects a token of an unknown issuer', async () => {
    const { token } = await service({ issuer: 'urn:someone-else' }).issue('user-1', ['admin'])

    expect(await rejectionCode(service().verify(token))).toBe('TOKEN_ISSUER_UNKNOWN')
  })

  it('rejects text that is no JWT', async () => {
    expect(await rejectionCode(service().verify('not-a-token'))).toBe('TOKEN_INVALID')
  })
})

describe('external issuer tokens', () => {
  let server: Server
  let jwksUrl: string
  let privateKey: SigningKey
  let otherKey: SigningKey
  let publicJwk: JWK
  let jwksRequests = 0

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256')
    privateKey = pair.privateKey
    otherKey = (await generateKeyPair('RS256')).privateKey
    publicJwk = {
      ...(await exportJWK(pair.publicKey)),
      kid: 'hospital-1',
      alg: 'RS256',
      use: 'sig',
    }
    server = createServer((request, response) => {
      if (request.url === '/jwks') {
        jwksRequests++
        response.writeHead(200, { 'Content-Type': 'application/json' })
        response.end(JSON.stringify({ keys: [publicJwk] }))
        return
      }
      if (request.url === '/.well-known/openid-configuration') {
        response.writeHead(200, { 'Content-Type': 'application/json' })
        response.end(JSON.stringify({ issuer: baseUrl(), jwks_uri: `${baseUrl()}/jwks` }))
        return
      }
      response.writeHead(404)
      response.end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    jwksUrl = `${baseUrl()}/jwks`
  })

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve))
  })

  function baseUrl(): string {
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  function externalService(overrides: { jwksUrl?: string; issuer?: string } = {}): TokenService {
    const issuer = overrides.issuer ?? EXTERNAL_ISSUER
    return service({
      external: {
        issuer,
        audience: AUDIENCE,
        jwksUrl: 'jwksUrl' in overrides ? overrides.jwksUrl : jwksUrl,
        roleClaim: 'realm_access.roles',
        algorithms: ['RS256'],
      },
    })
  }

  function sign(
    claims: Record<string, unknown>,
    options: {
      key?: SigningKey
      issuer?: string
      audience?: string
      expiresAt?: Date
    } = {},
  ): Promise<string> {
    return new SignJWT({ realm_access: { roles: ['steward', 'offline_access'] }, ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: 'hospital-1' })
      .setIssuer(options.issuer ?? EXTERNAL_ISSUER)
      .setAudience(options.audience ?? AUDIENCE)
      .setSubject('f:5d1e:alice')
      .setIssuedAt(seconds(NOW))
      .setExpirationTime(seconds(options.expiresAt ?? new Date(NOW.getTime() + 300_000)))
      .sign(options.key ?? privateKey)
  }

  it('verifies a token and reads the roles claim', async () => {
    const verified = await externalService().verify(await sign({}))

    expect(verified).toEqual({
      kind: 'external',
      subject: 'f:5d1e:alice',
      issuer: EXTERNAL_ISSUER,
      roles: ['steward'],
    })
  })

  it('finds the key set through discovery', async () => {
    const verified = await externalService({ jwksUrl: undefined, issuer: baseUrl() }).verify(
      await sign({}, { issuer: baseUrl() }),
    )

    expect(verified.kind).toBe('external')
  })

  it('fetches the key set once', async () => {
    const tokens = externalService()
    const before = jwksRequests
    await tokens.verify(await sign({}))
    await tokens.verify(await sign({}))

    expect(jwksRequests - before).toBe(1)
  })

  it('rejects a wrong key', async () => {
    const token = await sign({}, { key: otherKey })

    expect(await rejectionCode(externalService().verify(token))).toBe('TOKEN_INVALID')
  })

  it('rejects an expired token', async () => {
    const token = await sign({}, { expiresAt: new Date(NOW.getTime() - 60_000) })

    expect(await rejectionCode(externalService().verify(token))).toBe('TOKEN_EXPIRED')
  })

  it('rejects another audience', async () => {
    const token = await sign({}, { audience: 'some-other-api' })

    expect(await rejectionCode(externalService().verify(token))).toBe('TOKEN_INVALID')
  })

  it('rejects another issuer', async () => {
    const token = await sign({}, { issuer: 'https://login.example.org/realms/other' })

    expect(await rejectionCode(externalService().verify(token))).toBe('TOKEN_ISSUER_UNKNOWN')
  })

  it('rejects alg none', async () => {
    const token = unsignedToken({
      iss: EXTERNAL_ISSUER,
      aud: AUDIENCE,
      sub: 'f:5d1e:alice',
      exp: seconds(NOW) + 600,
      realm_access: { roles: ['admin'] },
    })

    expect(await rejectionCode(externalService().verify(token))).toBe('TOKEN_INVALID')
  })

  it('rejects HS256 keyed with the public key', async () => {
    // The algorithm confusion attack: an HMAC over the token keyed with the issuer's public key.
    const token = await new SignJWT({ realm_access: { roles: ['admin'] } })
      .setProtectedHeader({ alg: 'HS256', kid: 'hospital-1' })
      .setIssuer(EXTERNAL_ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('f:5d1e:alice')
      .setExpirationTime(seconds(NOW) + 600)
      .sign(new TextEncoder().encode(JSON.stringify(publicJwk)))

    expect(await rejectionCode(externalService().verify(token))).toBe('TOKEN_INVALID')
  })

  it('answers 503 when the key set cannot be fetched', async () => {
    const tokens = externalService({ jwksUrl: `${baseUrl()}/missing` })

    expect(await rejectionCode(tokens.verify(await sign({})))).toBe('TOKEN_ISSUER_UNAVAILABLE')
  })
})

describe('rolesOf', () => {
  it('reads a list at a dotted path', () => {
    expect(rolesOf({ realm_access: { roles: ['admin', 'other'] } }, 'realm_access.roles')).toEqual([
      'admin',
    ])
  })

  it('reads a space-separated string', () => {
    expect(rolesOf({ roles: 'auditor steward' }, 'roles')).toEqual(['steward', 'auditor'])
  })

  it('gives no role for a missing claim', () => {
    expect(rolesOf({}, 'groups')).toEqual([])
  })
})
