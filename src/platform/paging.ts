import { sql, type RawBuilder } from 'kysely'
import { ValidationError } from './errors.ts'

/** Position after the last row of a page, ordered by creation time and then id. */
export interface PageCursor {
  createdAt: Date
  id: string
}

export function encodeCursor(cursor: PageCursor): string {
  return Buffer.from(`${cursor.createdAt.toISOString()}|${cursor.id}`).toString('base64url')
}

/** Id of a row keyed by a UUID, as in a cursor. */
export const UUID_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Id of a row keyed by a bigserial; 18 digits always fit in a Postgres bigint. */
export const BIGINT_ID = /^\d{1,18}$/

/**
 * Reads a cursor. Pass `idPattern`, the form of the listed table's key: a forged cursor whose id
 * Postgres cannot cast to that key would otherwise fail the query with a 500.
 */
export function decodeCursor(
  value: string | undefined,
  idPattern?: RegExp,
): PageCursor | undefined {
  if (value === undefined) return undefined
  const [createdAt, id] = Buffer.from(value, 'base64url').toString('utf8').split('|')
  const date = new Date(createdAt ?? '')
  if (!id || (idPattern && !idPattern.test(id)) || Number.isNaN(date.getTime())) {
    throw new ValidationError('Invalid cursor', [
      { path: 'cursor', message: 'Pass the nextCursor of a previous page unchanged' },
    ])
  }
  return { createdAt: date, id }
}

/**
 * Turns rows fetched with `limit + 1` into one page: the extra row only shows that a next page
 * exists, and the cursor points after the last row shown.
 */
export function toPage<Row extends { created_at: Date; id: string }, Item>(
  rows: readonly Row[],
  limit: number,
  toItem: (row: Row) => Item,
): { items: Item[]; nextCursor: string | null } {
  const page = rows.slice(0, limit)
  const last = page.at(-1)
  const hasMore = rows.length > limit && last !== undefined
  return {
    items: page.map(toItem),
    nextCursor: hasMore ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null,
  }
}

/**
 * Keeps the rows after the cursor in `(created_at, id)` order, for a list sorted by both. The row
 * comparison is one condition that a `(created_at, id)` index serves directly.
 */
export function isAfterCursor(after: PageCursor): RawBuilder<boolean> {
  return sql<boolean>`(created_at, id) > (${after.createdAt}, ${after.id})`
}
