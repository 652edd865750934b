import { ValidationError } from './errors.ts'

/** Position after the last row of a page, ordered by creation time and then id. */
export interface PageCursor {
  createdAt: Date
  id: string
}

export function encodeCursor(cursor: PageCursor): string {
  return Buffer.from(`${cursor.createdAt.toISOString()}|${cursor.id}`).toString('base64url')
}

export function decodeCursor(value: string | undefined): PageCursor | undefined {
  if (value === undefined) return undefined
  const [createdAt, id] = Buffer.from(value, 'base64url').toString('utf8').split('|')
  const date = new Date(createdAt ?? '')
  if (!id || Number.isNaN(date.getTime())) {
    throw new ValidationError('Invalid cursor', [
      { path: 'cursor', message: 'Pass the nextCursor of a previous page unchanged' },
    ])
  }
  return { createdAt: date, id }
}
