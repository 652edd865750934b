import type { Kysely } from 'kysely'
import type { AuditRepository, ChangeContext } from '../audit/audit.repository.ts'
import type { Clock } from '../platform/clock.ts'
import type { Database } from '../platform/db.ts'
import { ConflictError, NotFoundError } from '../platform/errors.ts'
import type { Logger } from '../platform/logger.ts'
import { UUID_ID, decodeCursor, toPage } from '../platform/paging.ts'
import type { Role } from './access.ts'
import { hashPassword } from './password.ts'
import type { UserRepository, UserRow } from './user.repository.ts'

/** A user as the API shows it; the password hash never leaves the service. */
export interface User {
  id: string
  username: string
  roles: string[]
  disabled: boolean
  createdAt: string
  updatedAt: string
  createdBy: string
}

export interface UserServiceDeps {
  db: Kysely<Database>
  users: UserRepository
  audit: AuditRepository
  clock: Clock
  logger: Logger
}

/** Audit actor of users created from the environment or the command line. */
export const SYSTEM_ACTOR = 'system'

/** Postgres unique violation (SQLSTATE 23505). */
function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown }).code === '23505'
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    roles: row.roles,
    disabled: row.disabled,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    createdBy: row.created_by,
  }
}

/** Returns what an audit row records of a user, which never includes the password hash. */
function auditView(row: UserRow): Record<string, unknown> {
  return { username: row.username, roles: row.roles, disabled: row.disabled }
}

/** Creates and changes local users; each change is audited. */
export class UserService {
  readonly #deps: UserServiceDeps

  constructor(deps: UserServiceDeps) {
    this.#deps = deps
  }

  /** Creates a user; a username taken in any letter case gives 409 `USERNAME_TAKEN`. */
  async create(
    input: { username: string; password: string; roles: readonly Role[] },
    context: ChangeContext,
    logger: Logger = this.#deps.logger,
  ): Promise<User> {
    const { db, users, audit, clock } = this.#deps
    const passwordHash = await hashPassword(input.password)
    const now = clock.now()
    try {
      const row = await db.transaction().execute(async (trx) => {
        const inserted = await users.insert(trx, {
          id: crypto.randomUUID(),
          username: input.username,
          passwordHash,
          roles: [...new Set(input.roles)],
          createdBy: context.actor,
          now,
        })
        await audit.record(trx, {
          actor: context.actor,
          source: 'user',
          action: 'create',
          entityType: 'user',
          entityId: inserted.id,
          before: null,
          after: auditView(inserted),
          requestId: context.requestId,
          occurredAt: now,
        })
        return inserted
      })
      logger.info('User created', { userId: row.id, roles: row.roles, actor: context.actor })
      return toUser(row)
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new ConflictError('USERNAME_TAKEN', 'A user with this username exists already')
      }
      throw error
    }
  }

  async get(id: string): Promise<User> {
    const row = await this.#deps.users.findById(this.#deps.db, id)
    if (!row) throw new NotFoundError('User', id)
    return toUser(row)
  }

  /**
   * Looks up the usernames of user ids, so that any role can show who acted without reading
   * `/users`. Ids that name no local user are left out, and disabled users keep their names.
   */
  async names(ids: readonly string[]): Promise<{ id: string; username: string }[]> {
    return this.#deps.users.findNames(this.#deps.db, [...new Set(ids)])
  }

  async list(
    limit: number,
    cursor?: string,
  ): Promise<{ items: User[]; nextCursor: string | null }> {
    const rows = await this.#deps.users.list(
      this.#deps.db,
      limit + 1,
      decodeCursor(cursor, UUID_ID),
    )
    return toPage(rows, limit, toUser)
  }

  /**
   * Changes roles, the disabled flag or the password. The last enabled admin can neither lose the
   * admin role nor be disabled (409 `LAST_ADMIN`), so the registry always keeps someone who can
   * manage users.
   */
  async update(
    id: string,
    changes: { roles?: readonly Role[]; disabled?: boolean; password?: string },
    context: ChangeContext,
    logger: Logger = this.#deps.logger,
  ): Promise<User> {
    const { db, users, audit, clock } = this.#deps
    const passwordHash =
      changes.password === undefined ? undefined : await hashPassword(changes.password)
    const now = clock.now()
    const row = await db.transaction().execute(async (trx) => {
      await users.lockUserChanges(trx)
      const before = await users.lock(trx, id)
      if (!before) throw new NotFoundError('User', id)

      const roles = changes.roles === undefined ? undefined : [...new Set(changes.roles)]
      const staysAdmin =
        (roles ?? before.roles).includes('admin') && !(changes.disabled ?? before.disabled)
      const wasAdmin = before.roles.includes('admin') && !before.disabled
      if (wasAdmin && !staysAdmin && (await users.countOtherActiveAdmins(trx, id)) === 0) {
        throw new ConflictError(
          'LAST_ADMIN',
          'This is the last enabled admin; make another user admin first',
        )
      }

      // A new password or disabling the user ends every session, including a stolen one.
      const endsSessions =
        passwordHash !== undefined || (changes.disabled === true && !before.disabled)
      const tokensValidFrom = endsSessions ? now : undefined
      const after = await users.update(
        trx,
        id,
        { roles, disabled: changes.disabled, passwordHash, tokensValidFrom },
        now,
      )

      await audit.record(trx, {
        actor: context.actor,
        source: 'user',
        action: 'update',
        entityType: 'user',
        entityId: id,
        before: auditView(before),
        after: { ...auditView(after), ...(passwordHash ? { passwordChanged: true } : {}) },
        requestId: context.requestId,
        occurredAt: now,
      })
      return after
    })
    logger.info('User changed', {
      userId: id,
      roles: row.roles,
      disabled: row.disabled,
      passwordChanged: passwordHash !== undefined,
      actor: context.actor,
    })
    return toUser(row)
  }

  /**
   * Creates the first admin when the registry has no user yet. Returns null when users exist, or
   * when another process created the same admin at the same moment.
   */
  async createFirstAdmin(username: string, password: string): Promise<User | null> {
    if ((await this.#deps.users.count(this.#deps.db)) > 0) return null
    try {
      return await this.create(
        { username, password, roles: ['admin'] },
        { actor: SYSTEM_ACTOR, requestId: null },
      )
    } catch (error) {
      if (error instanceof ConflictError) return null
      throw error
    }
  }
}
