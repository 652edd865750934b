import { createHash } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Clock } from '../platform/clock.ts'
import type { Database } from '../platform/db.ts'
import {
  AppError,
  ConflictError,
  TooManyRequestsError,
  UnauthorizedError,
} from '../platform/errors.ts'
import type { Principal } from '../platform/http.ts'
import type { Logger } from '../platform/logger.ts'
import type { CallerAccessReader } from './caller-access.ts'
import { decoyPasswordHash, verifyPassword } from './password.ts'
import type { TokenService } from './tokens.ts'
import type { UserRepository, UserRow } from './user.repository.ts'
import type { UserService } from './user.service.ts'

export interface LoginLimits {
  maxFailuresPerAccount: number
  maxFailuresPerAddress: number
  /** Window in which failures count, and how long a lock lasts. */
  lockoutSeconds: number
}

export interface AuthServiceDeps {
  db: Kysely<Database>
  users: UserRepository
  /** Reads the caller's roles and state on every authenticated request. */
  callers: CallerAccessReader
  /** Writes password changes, with their audit row. */
  userService: UserService
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url')
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
    const user = await this.#checkPassword(
      username,
      password,
      { address, logger },
      () => new UnauthorizedError('The username or password is wrong', 'INVALID_CREDENTIALS'),
    )

    const { token, expiresIn } = await this.#deps.tokens.issue(user.id, user.roles)
    logger.info('User signed in', { userId: user.id, address })
    return { token, expiresIn, roles: user.roles }
  }

  /**
   * Sets a new password for the caller after checking the current one. A wrong current password
   * counts as a failed sign-in, so a stolen token cannot be used to guess the password. Users of
   * the external issuer change their password there (409 `EXTERNAL_ACCOUNT`).
   */
  async changeOwnPassword(
    principal: Principal,
    passwords: { currentPassword: string; newPassword: string },
    context: { address: string; requestId: string | null; logger: Logger },
  ): Promise<void> {
    // External principals are named `issuer#subject`, which is no user id.
    const isLocalUser = UUID.test(principal.id)
    const user = isLocalUser ? await this.#deps.users.findById(this.#deps.db, principal.id) : null
    if (!user) {
      throw new ConflictError(
        'EXTERNAL_ACCOUNT',
        'This account belongs to the external issuer; change its password there',
      )
    }
    await this.#checkPassword(
      user.username,
      passwords.currentPassword,
      context,
      () =>
        new AppError(403, 'INVALID_CURRENT_PASSWORD', 'The current password is wrong; try again'),
    )

    await this.#deps.userService.update(
      user.id,
      { password: passwords.newPassword },
      { actor: user.id, requestId: context.requestId },
      context.logger,
    )
  }

  /**
   * Returns the enabled user whose password this is. It raises 429 while the account or the
   * address is locked, and otherwise counts a failure and raises `wrong()`.
   */
  async #checkPassword(
    username: string,
    password: string,
    context: { address: string; logger: Logger },
    wrong: () => AppError,
  ): Promise<UserRow> {
    const { db, users, clock, limits } = this.#deps
    const { address, logger } = context
    const now = clock.now()
    const windowMs = limits.lockoutSeconds * 1000
    // Keys are digests: the typed username may be a mistyped password, and an address from a
    // proxy header may be of any length.
    const accountKey = `account:${digest(username.toLowerCase())}`
    const addressKey = `address:${digest(address)}`

    const lockedUntil = await users.lockedUntil(db, [accountKey, addressKey], now)
    if (lockedUntil) throw this.#locked(lockedUntil, now, { address, logger })

    // Each attempt counts before the slow password check, so requests sent together cannot all
    // pass the lock check before any of them is counted. A right password takes its count back.
    const account = await users.recordFailure(db, accountKey, {
      now,
      windowMs,
      maxFailures: limits.maxFailuresPerAccount,
    })
    const fromAddress = await users.recordFailure(db, addressKey, {
      now,
      windowMs,
      maxFailures: limits.maxFailuresPerAddress,
    })
    if (
      account.failures > limits.maxFailuresPerAccount ||
      fromAddress.failures > limits.maxFailuresPerAddress
    ) {
      const ends = [account.lockedUntil, fromAddress.lockedUntil].flatMap((end) =>
        end ? [end.getTime()] : [],
      )
      throw this.#locked(new Date(Math.max(now.getTime() + 1000, ...ends)), now, {
        address,
        logger,
      })
    }

    const user = await users.findByUsername(db, username)
    const matches = await verifyPassword(
      password,
      user?.password_hash ?? (await decoyPasswordHash()),
    )
    if (!user || !matches || user.disabled) {
      // The typed username is never logged: users sometimes type their password into it.
      const fields = {
        address,
        userId: user?.id ?? null,
        reason: failureReason(user, matches),
        accountFailures: account.failures,
        addressFailures: fromAddress.failures,
      }
      if (
        account.failures === limits.maxFailuresPerAccount ||
        fromAddress.failures === limits.maxFailuresPerAddress
      ) {
        logger.warn('Sign-in locked after repeated failures', {
          ...fields,
          lockedSeconds: limits.lockoutSeconds,
        })
      } else {
        logger.warn('Sign-in failed', fields)
      }
      throw wrong()
    }

    await users.clearFailures(db, accountKey)
    await users.takeBackFailure(db, addressKey, limits.maxFailuresPerAddress)
    return user
  }

  #locked(
    lockedUntil: Date,
    now: Date,
    context: { address: string; logger: Logger },
  ): TooManyRequestsError {
    const retryAfterSeconds = Math.max(1, Math.ceil((lockedUntil.getTime() - now.getTime()) / 1000))
    context.logger.warn('Sign-in rejected while locked', {
      address: context.address,
      retryAfterSeconds,
    })
    return new TooManyRequestsError(
      'LOGIN_RATE_LIMITED',
      `Too many failed sign-ins; try again in ${retryAfterSeconds} s`,
      retryAfterSeconds,
    )
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
    if (authorization === undefined || authorization.trim() === '') {
      throw new UnauthorizedError(
        'Send an access token as Authorization: Bearer <token>; POST /auth/token issues one',
        'TOKEN_MISSING',
      )
    }
    const token = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(authorization.trim())?.[1]
    if (!token) {
      throw new UnauthorizedError(
        'The Authorization header is not of the form Bearer <token>',
        'TOKEN_INVALID',
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
    const user = await this.#deps.callers.find(verified.userId)
    if (!user || user.disabled) {
      throw new UnauthorizedError('The account of this token is disabled or gone', 'TOKEN_INVALID')
    }
    if (user.tokens_valid_from && verified.issuedAt < user.tokens_valid_from) {
      throw new UnauthorizedError(
        'This token was issued before the password changed or the account was disabled; sign in again',
        'TOKEN_REVOKED',
      )
    }
    return { id: user.id, roles: user.roles }
  }
}
