import type { Kysely } from 'kysely'
import type { Clock } from '../platform/clock.ts'
import type { Database } from '../platform/db.ts'
import { AppError, TooManyRequestsError, UnauthorizedError } from '../platform/errors.ts'
import type { Principal } from '../platform/http.ts'
import type { Logger } from '../platform/logger.ts'
import { decoyPasswordHash, verifyPassword } from './password.ts'
import type { TokenService } from './tokens.ts'
import type { UserRepository, UserRow } from './user.repository.ts'

export interface LoginLimits {
  maxFailuresPerAccount: number
  maxFailuresPerAddress: number
  /** Window in which failures count, and how long a lock lasts. */
  lockoutSeconds: number
}

export interface AuthServiceDeps {
  db: Kysely<Database>
  users: UserRepository
  tokens: TokenService
  clock: Clock
  logger: Logger
  limits: LoginLimits
}

/** An access token issued by `POST /auth/token`. */
export interface IssuedToken {
  token: string
  expiresIn: number
  roles: string[]
}

function failureReason(user: UserRow | undefined, passwordMatches: boolean): string {
  if (!user) return 'unknown-user'
  if (!passwordMatches) return 'wrong-password'
  return 'disabled'
}

/** Signs users in and turns bearer tokens into principals. */
export class AuthService {
  readonly #deps: AuthServiceDeps

  constructor(deps: AuthServiceDeps) {
    this.#deps = deps
  }

  /**
   * Checks a username and password and issues an access token. Failures count per account and
   * per address; past the configured limits both are locked for a while (429). An unknown
   * user, a wrong password and a disabled account all get the same 401, so a caller cannot probe
   * which accounts exist.
   */
  async login(
    username: string,
    password: string,
    address: string,
    logger: Logger = this.#deps.logger,
  ): Promise<IssuedToken> {
    const { db, users, clock } = this.#deps
    const now = clock.now()
    const accountKey = `account:${username.toLowerCase()}`
    const addressKey = `address:${address}`

    const lockedUntil = await users.lockedUntil(db, [accountKey, addressKey], now)
    if (lockedUntil) {
      const retryAfterSeconds = Math.max(
        1,
        Math.ceil((lockedUntil.getTime() - now.getTime()) / 1000),
      )
      logger.warn('Sign-in rejected while locked', { address, retryAfterSeconds })
      throw new TooManyRequestsError(
        'LOGIN_RATE_LIMITED',
        `Too many failed sign-ins; try again in ${retryAfterSeconds} s`,
        retryAfterSeconds,
      )
    }

    const user = await users.findByUsername(db, username)
    const matches = await verifyPassword(
      password,
      user?.password_hash ?? (await decoyPasswordHash()),
    )
    if (!user || !matches || user.disabled) {
      await this.#recordFailure(accountKey, addressKey, logger, {
        address,
        userId: user?.id ?? null,
        reason: failureReason(user, matches),
      })
      throw new UnauthorizedError('The username or password is wrong', 'INVALID_CREDENTIALS')
    }

    await users.clearFailures(db, accountKey)
    const { token, expiresIn } = await this.#deps.tokens.issue(user.id, user.roles)
    logger.info('User signed in', { userId: user.id, address })
    return { token, expiresIn, roles: user.roles }
  }

  /**
   * Turns an Authorization header into the caller. A local user's roles come from the database
   * on every request, so disabling a user or changing roles takes effect at once. An external
   * issuer's roles come from its token.
   */
  async authenticate(
    authorization: string | undefined,
    logger: Logger = this.#deps.logger,
  ): Promise<Principal> {
    const token = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(authorization?.trim() ?? '')?.[1]
    if (!token) {
      throw new UnauthorizedError(
        'Send an access token as Authorization: Bearer <token>; POST /auth/token issues one',
        'TOKEN_MISSING',
      )
    }
    let verified
    try {
      verified = await this.#deps.tokens.verify(token)
    } catch (error) {
      if (error instanceof AppError && error.status >= 500) {
        logger.error('Token issuer keys could not be fetched', {
          error: error.cause instanceof Error ? error.cause.message : String(error.cause),
        })
      }
      throw error
    }
    if (verified.kind === 'external') {
      return { id: `${verified.issuer}#${verified.subject}`, roles: verified.roles }
    }
    const user = await this.#deps.users.findById(this.#deps.db, verified.userId)
    if (!user || user.disabled) {
      throw new UnauthorizedError('The account of this token is disabled or gone', 'TOKEN_INVALID')
    }
    return { id: user.id, roles: user.roles }
  }

  async #recordFailure(
    accountKey: string,
    addressKey: string,
    logger: Logger,
    context: { address: string; userId: string | null; reason: string },
  ): Promise<void> {
    const { db, users, clock, limits } = this.#deps
    const now = clock.now()
    const windowMs = limits.lockoutSeconds * 1000
    const account = await users.recordFailure(db, accountKey, {
      now,
      windowMs,
      maxFailures: limits.maxFailuresPerAccount,
    })
    const address = await users.recordFailure(db, addressKey, {
      now,
      windowMs,
      maxFailures: limits.maxFailuresPerAddress,
    })
    // The typed username is never logged: users sometimes type their password into it.
    const fields = {
      ...context,
      accountFailures: account.failures,
      addressFailures: address.failures,
    }
    if (
      account.failures === limits.maxFailuresPerAccount ||
      address.failures === limits.maxFailuresPerAddress
    ) {
      logger.warn('Sign-in locked after repeated failures', {
        ...fields,
        lockedSeconds: limits.lockoutSeconds,
      })
    } else {
      logger.warn('Sign-in failed', fields)
    }
  }
}
