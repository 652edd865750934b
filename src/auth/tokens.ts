import {
  createRemoteJWKSet,
  decodeJwt,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose'
import type { webcrypto } from 'node:crypto'
import { AppError, UnauthorizedError } from '../platform/errors.ts'
import type { Clock } from '../platform/clock.ts'
import { ROLES, type Role } from './access.ts'

/** Settings of an external OpenID issuer whose access tokens the API accepts. */
export interface ExternalIssuerSettings {
  issuer: string
  audience: string
  /** JWKS URL; when absent it is read from the issuer's discovery document. */
  jwksUrl?: string
  /** Claim with the roles, as a dotted path. */
  roleClaim: string
  algorithms: readonly string[]
}

export interface TokenServiceDeps {
  clock: Clock
  /** HS256 key of the registry's own tokens. */
  secret: string
  /** `iss` and `aud` of the registry's own tokens. */
  issuer: string
  ttlSeconds: number
  external?: ExternalIssuerSettings
  /** Timeout of the JWKS and discovery requests, in milliseconds. */
  fetchTimeoutMs?: number
}

/** A token's verified claims, reduced to what the API needs. */
export type VerifiedToken =
  | { kind: 'local'; userId: string; issuedAt: Date }
  | { kind: 'external'; subject: string; issuer: string; roles: Role[] }

/** Private claim of the registry's tokens: the issue time in milliseconds. */
const ISSUED_AT_MS_CLAIM = 'iat_ms'

/** Tolerance for clock differences between the issuer and this server, in seconds. */
const CLOCK_TOLERANCE_SECONDS = 30

/**
 * Local tokens kept after a full check. Each entry is a token and its claims, under 1 KiB, so the
 * set stays within about 10 MiB; past this size the oldest entry goes.
 */
const MAX_VERIFIED_LOCAL_TOKENS = 10_000

/** A local token that passed the full check, with the time claims that a later use rechecks. */
interface VerifiedLocalToken {
  token: VerifiedToken
  /** `exp` and `nbf` in seconds since the epoch, as jose compares them. */
  expiresAt: number
  notBefore: number | undefined
}

/**
 * Issues the registry's own access tokens and verifies those and an external issuer's. Tokens
 * are distinguished by their `iss` claim before any signature check, and each issuer's tokens are
 * checked only with that issuer's keys, algorithms and audience. `alg: none` never passes:
 * jose 6 rejects unsecured tokens whenever a key is given, as the unit tests check.
 */
export class TokenService {
  readonly #deps: TokenServiceDeps
  /**
   * The HS256 key, imported once. Given the raw bytes, jose imports them into a CryptoKey on
   * every call, which took about a third of each token check.
   */
  readonly #key: Promise<webcrypto.CryptoKey>
  #externalKeys: Promise<JWTVerifyGetKey> | undefined
  /**
   * The registry's own tokens that passed the full check, by their text. A client sends the same
   * token with every request until it expires, and the signature check went to the crypto thread
   * pool each time: about 0.1 ms of CPU, a fifth of a GET of one patient. A token's signature,
   * issuer, audience and required claims cannot change and the key lives as long as the process,
   * so a repeat use rechecks only the time claims. Roles, the disabled flag and the token cutoff
   * are read from the database on every request all the same (see AuthService.authenticate).
   * Tokens of the external issuer are checked in full each time, because its key set can change.
   */
  readonly #verifiedLocal = new Map<string, VerifiedLocalToken>()

  constructor(deps: TokenServiceDeps) {
    this.#deps = deps
    this.#key = crypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(deps.secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    )
  }

  /** Signs a token for a local user, valid for the configured lifetime. */
  async issue(
    userId: string,
    roles: readonly string[],
  ): Promise<{ token: string; expiresIn: number }> {
    const issuedAtMs = this.#deps.clock.now().getTime()
    const now = Math.floor(issuedAtMs / 1000)
    // `iat` counts whole seconds, too coarse to tell a token issued just before a password change
    // from one issued just after it, so the registry's tokens carry the milliseconds as well.
    const token = await new SignJWT({ roles: [...roles], [ISSUED_AT_MS_CLAIM]: issuedAtMs })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setIssuer(this.#deps.issuer)
      .setAudience(this.#deps.issuer)
      .setSubject(userId)
      .setIssuedAt(now)
      .setExpirationTime(now + this.#deps.ttlSeconds)
      .setJti(crypto.randomUUID())
      .sign(await this.#key)
    return { token, expiresIn: this.#deps.ttlSeconds }
  }

  /** Verifies a bearer token, raising 401 with a code that states why it was rejected. */
  async verify(token: string): Promise<VerifiedToken> {
    const known = this.#knownLocalToken(token)
    if (known) return known

    let issuer: unknown
    try {
      issuer = decodeJwt(token).iss
    } catch {
      throw new UnauthorizedError('The bearer token is not a JWT', 'TOKEN_INVALID')
    }
    try {
      if (issuer === this.#deps.issuer) return await this.#verifyLocal(token)
      const external = this.#deps.external
      if (external && issuer === external.issuer) return await this.#verifyExternal(token, external)
    } catch (error) {
      throw rejection(error)
    }
    const named = typeof issuer === 'string' ? issuer.slice(0, 200) : '(not a string)'
    throw new UnauthorizedError(
      `Tokens of issuer ${named} are not accepted here`,
      'TOKEN_ISSUER_UNKNOWN',
    )
  }

  async #verifyLocal(token: string): Promise<VerifiedToken> {
    const { payload } = await jwtVerify(token, await this.#key, {
      issuer: this.#deps.issuer,
      audience: this.#deps.issuer,
      algorithms: ['HS256'],
      requiredClaims: ['sub', 'exp', 'iat'],
      currentDate: this.#deps.clock.now(),
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    })
    const issuedAtMs = payload[ISSUED_AT_MS_CLAIM]
    const verified: VerifiedToken = {
      kind: 'local',
      userId: payload.sub ?? '',
      issuedAt: new Date(typeof issuedAtMs === 'number' ? issuedAtMs : (payload.iat ?? 0) * 1000),
    }
    if (this.#verifiedLocal.size >= MAX_VERIFIED_LOCAL_TOKENS) {
      const oldest = this.#verifiedLocal.keys().next()
      if (!oldest.done) this.#verifiedLocal.delete(oldest.value)
    }
    // requiredClaims makes jose reject a token without `exp`.
    this.#verifiedLocal.set(token, {
      token: verified,
      expiresAt: payload.exp ?? 0,
      notBefore: payload.nbf,
    })
    return verified
  }

  /**
   * Returns the claims of a local token that passed the full check before, when its time claims
   * still pass jose's checks (jwtVerify of jose 6, with the same tolerance). Otherwise the entry
   * goes, and the full check raises the usual error.
   */
  #knownLocalToken(token: string): VerifiedToken | undefined {
    const known = this.#verifiedLocal.get(token)
    if (!known) return undefined
    const nowSeconds = Math.floor(this.#deps.clock.now().getTime() / 1000)
    const expired = known.expiresAt <= nowSeconds - CLOCK_TOLERANCE_SECONDS
    const early =
      known.notBefore !== undefined && known.notBefore > nowSeconds + CLOCK_TOLERANCE_SECONDS
    if (expired || early) {
      this.#verifiedLocal.delete(token)
      return undefined
    }
    return known.token
  }

  async #verifyExternal(token: string, external: ExternalIssuerSettings): Promise<VerifiedToken> {
    const { payload } = await jwtVerify(token, await this.#externalKeySet(external), {
      issuer: external.issuer,
      audience: external.audience,
      algorithms: [...external.algorithms],
      requiredClaims: ['sub', 'exp'],
      currentDate: this.#deps.clock.now(),
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    })
    return {
      kind: 'external',
      subject: payload.sub ?? '',
      issuer: external.issuer,
      roles: rolesOf(payload, external.roleClaim),
    }
  }

  /** Builds the issuer's key set once; jose caches its keys and refetches on an unknown `kid`. */
  #externalKeySet(external: ExternalIssuerSettings): Promise<JWTVerifyGetKey> {
    this.#externalKeys ??= this.#resolveJwksUrl(external).then((url) =>
      createRemoteJWKSet(new URL(url), { timeoutDuration: this.#deps.fetchTimeoutMs ?? 5_000 }),
    )
    // A failed discovery is not cached, so the next token tries again.
    this.#externalKeys.catch(() => {
      this.#externalKeys = undefined
    })
    return this.#externalKeys
  }

  async #resolveJwksUrl(external: ExternalIssuerSettings): Promise<string> {
    if (external.jwksUrl) return external.jwksUrl
    const discovery = `${external.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`
    const response = await fetch(discovery, {
      signal: AbortSignal.timeout(this.#deps.fetchTimeoutMs ?? 5_000),
    })
    if (!response.ok) throw new Error(`GET ${discovery} returned ${response.status}`)
    const { jwks_uri: jwksUri } = (await response.json()) as { jwks_uri?: unknown }
    if (typeof jwksUri !== 'string') throw new Error(`${discovery} names no jwks_uri`)
    return jwksUri
  }
}

/** Reads the roles claim (a string or a list, at a dotted path) and keeps the registry's roles. */
export function rolesOf(payload: JWTPayload, claimPath: string): Role[] {
  let value: unknown = payload
  for (const part of claimPath.split('.')) {
    value =
      typeof value === 'object' && value !== null
        ? (value as Record<string, unknown>)[part]
        : undefined
  }
  const values = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : []
  return ROLES.filter((role) => values.includes(role))
}

function rejection(error: unknown): AppError {
  if (error instanceof AppError) return error
  if (error instanceof joseErrors.JWTExpired) {
    return new UnauthorizedError('The bearer token has expired; sign in again', 'TOKEN_EXPIRED')
  }
  // jose raises a plain JOSEError (code ERR_JOSE_GENERIC) for a key set response other than 200.
  const keySetUnavailable =
    error instanceof joseErrors.JWKSTimeout ||
    error instanceof joseErrors.JWKSInvalid ||
    (error instanceof joseErrors.JOSEError && error.code === 'ERR_JOSE_GENERIC')
  if (error instanceof joseErrors.JOSEError && !keySetUnavailable) {
    return new UnauthorizedError(`The bearer token is invalid: ${error.code}`, 'TOKEN_INVALID')
  }
  // The key set could not be fetched. The token may well be valid, so this is the server's
  // failure (503), and accepting the token unchecked is no option either.
  return new AppError(
    503,
    'TOKEN_ISSUER_UNAVAILABLE',
    'The bearer token could not be checked because the issuer keys could not be fetched; retry later',
    { cause: error },
  )
}
