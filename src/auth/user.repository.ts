import { sql, type Selectable } from 'kysely'
import type { Executor, UserTable } from '../platform/db.ts'
import { type PageCursor, isAfterCursor } from '../platform/paging.ts'

export type UserRow = Selectable<UserTable>

export interface NewUser {
  id: string
  username: string
  passwordHash: string
  roles: readonly string[]
  createdBy: string
  now: Date
}

export interface UserChanges {
  roles?: readonly string[]
  disabled?: boolean
  passwordHash?: string
  /** Tokens issued before this instant stop working. */
  tokensValidFrom?: Date
}

/** Failed sign-ins of one key after a failure was counted. */
export interface LoginFailureCount {
  failures: number
  lockedUntil: Date | null
}

/** Queries of local users and of the failed sign-in counters. */
export class UserRepository {
  async insert(db: Executor, user: NewUser): Promise<UserRow> {
    return db
      .insertInto('users')
      .values({
        id: user.id,
        username: user.username,
        password_hash: user.passwordHash,
        roles: [...user.roles],
        created_at: user.now,
        updated_at: user.now,
        created_by: user.createdBy,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
  }

  async findById(db: Executor, id: string): Promise<UserRow | undefined> {
    return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
  }

  /** Returns the id and username of each of `ids` that is a user. Unknown ids have no row. */
  async findNames(
    db: Executor,
    ids: readonly string[],
  ): Promise<{ id: string; username: string }[]> {
    if (ids.length === 0) return []
    return db
      .selectFrom('users')
      .select(['id', 'username'])
      .where('id', 'in', [...ids])
      .orderBy('username')
      .execute()
  }

  /** Finds a user by name, ignoring case. */
  async findByUsername(db: Executor, username: string): Promise<UserRow | undefined> {
    return db
      .selectFrom('users')
      .selectAll()
      .where(sql<string>`lower(username)`, '=', username.toLowerCase())
      .executeTakeFirst()
  }

  async count(db: Executor): Promise<number> {
    const row = await db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .executeTakeFirstOrThrow()
    return Number(row.count)
  }

  /** Counts the enabled admins other than `exceptId`, locking them against concurrent changes. */
  async countOtherActiveAdmins(db: Executor, exceptId: string): Promise<number> {
    const rows = await db
      .selectFrom('users')
      .select('id')
      .where('id', '<>', exceptId)
      .where('disabled', '=', false)
      .where(sql<boolean>`'admin' = any(roles)`)
      .forUpdate()
      .execute()
    return rows.length
  }

  /** Lists one page of users, oldest first, after the cursor if given. */
  async list(db: Executor, limit: number, after?: PageCursor): Promise<UserRow[]> {
    let query = db.selectFrom('users').selectAll()
    if (after) query = query.where(isAfterCursor(after))
    return query.orderBy('created_at').orderBy('id').limit(limit).execute()
  }

  /**
   * Serialises changes of users for the rest of the transaction. Two admins demoting each other
   * at once would otherwise each lock their own row first and then wait for the other's.
   */
  async lockUserChanges(db: Executor): Promise<void> {
    await sql`select pg_advisory_xact_lock(hashtext('brain-registry:user-changes'))`.execute(db)
  }

  /** Reads a user for update, so that a change and its checks see one state. */
  async lock(db: Executor, id: string): Promise<UserRow | undefined> {
    return db.selectFrom('users').selectAll().where('id', '=', id).forUpdate().executeTakeFirst()
  }

  async update(db: Executor, id: string, changes: UserChanges, now: Date): Promise<UserRow> {
    return db
      .updateTable('users')
      .set({
        ...(changes.roles === undefined ? {} : { roles: [...changes.roles] }),
        ...(changes.disabled === undefined ? {} : { disabled: changes.disabled }),
        ...(changes.passwordHash === undefined ? {} : { password_hash: changes.passwordHash }),
        ...(changes.tokensValidFrom === undefined
          ? {}
          : { tokens_valid_from: changes.tokensValidFrom }),
        updated_at: now,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow()
  }

  /** Returns when the key's lock ends, if it is locked at `now`. */
  async lockedUntil(db: Executor, keys: readonly string[], now: Date): Promise<Date | null> {
    const rows = await db
      .selectFrom('login_failures')
      .select('locked_until')
      .where('key', 'in', keys)
      .where('locked_until', '>', now)
      .execute()
    const ends = rows.flatMap((row) => (row.locked_until ? [row.locked_until.getTime()] : []))
    return ends.length === 0 ? null : new Date(Math.max(...ends))
  }

  /**
   * Counts one failed sign-in of `key` in one statement, so concurrent failures all count. A
   * window older than `windowMs` starts again at 1; reaching `maxFailures` locks the key until
   * `now + windowMs`.
   */
  async recordFailure(
    db: Executor,
    key: string,
    options: { now: Date; windowMs: number; maxFailures: number },
  ): Promise<LoginFailureCount> {
    const { now, windowMs, maxFailures } = options
    const windowStart = new Date(now.getTime() - windowMs)
    const lockEnd = new Date(now.getTime() + windowMs)
    // Counters whose window and lock have both ended count for nothing any more. Removing them
    // here keeps the table to the failures of one window, however many addresses try.
    await db
      .deleteFrom('login_failures')
      .where('window_started_at', '<', windowStart)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]))
      .where('key', '<>', key)
      .execute()
    const row = await sql<{ failures: number; locked_until: Date | null }>`
      insert into login_failures as current (key, failures, window_started_at, locked_until)
      values (${key}, 1, ${now}, ${maxFailures <= 1 ? lockEnd : null})
      on conflict (key) do update set
        failures = case when current.window_started_at < ${windowStart} then 1
                        else current.failures + 1 end,
        window_started_at = case when current.window_started_at < ${windowStart} then ${now}
                                 else current.window_started_at end,
        locked_until = case
          when (case when current.window_started_at < ${windowStart} then 1
                     else current.failures + 1 end) >= ${maxFailures} then ${lockEnd}
          else current.locked_until end
      returning failures, locked_until`.execute(db)
    const result = row.rows[0]
    if (!result) throw new Error(`Failed sign-in of ${key} was not counted`)
    return { failures: result.failures, lockedUntil: result.locked_until }
  }

  /** Takes back one counted failure of `key`, and its lock once it is below `maxFailures`. */
  async takeBackFailure(db: Executor, key: string, maxFailures: number): Promise<void> {
    await db
      .updateTable('login_failures')
      .set((eb) => ({
        failures: sql<number>`greatest(${eb.ref('failures')} - 1, 0)`,
        locked_until: sql<Date | null>`case when ${eb.ref('failures')} - 1 < ${maxFailures} then null else ${eb.ref('locked_until')} end`,
      }))
      .where('key', '=', key)
      .execute()
  }

  async clearFailures(db: Executor, key: string): Promise<void> {
    await db.deleteFrom('login_failures').where('key', '=', key).execute()
  }
}
