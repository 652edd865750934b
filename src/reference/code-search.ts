import { ValidationError } from '../platform/errors.ts'
import type { ValueSetCode } from './value-sets.ts'

/** A search of one value set's codes, one page at a time. */
export interface CodeSearch {
  /** Words that must each occur in the code or the display, in any order and any case. */
  text?: string
  /** Only codes of this code system. */
  system?: string
  limit: number
  cursor?: string
}

/** Match quality of a code against the text: lower ranks come first. */
const RANK = { exact: 0, prefix: 1, words: 2 } as const

type Rank = (typeof RANK)[keyof typeof RANK]

/**
 * Position after the last code of a page: its rank and its index in the value set. Codes are
 * ordered by rank, then by the value set's own order, which is fixed while the process runs.
 */
interface CodeCursor {
  rank: Rank
  index: number
}

/**
 * Returns one page of the codes that match the search. Codes whose code or display equals the
 * text come first, then those that start with it, then those that only contain every word.
 */
export function searchCodes(
  codes: readonly ValueSetCode[],
  search: CodeSearch,
): { items: ValueSetCode[]; nextCursor: string | null } {
  const after = decodeCodeCursor(search.cursor)
  const text = normalize(search.text ?? '')
  const words = text.split(' ').filter((word) => word !== '')

  const matches: { code: ValueSetCode; rank: Rank; index: number }[] = []
  for (const [index, code] of codes.entries()) {
    if (search.system !== undefined && code.system !== search.system) continue
    const rank = rankOf(code, text, words)
    if (rank === null) continue
    if (after && (rank < after.rank || (rank === after.rank && index <= after.index))) continue
    matches.push({ code, rank, index })
  }
  matches.sort((a, b) => a.rank - b.rank || a.index - b.index)

  const page = matches.slice(0, search.limit)
  const last = page.at(-1)
  const hasMore = matches.length > search.limit && last !== undefined
  return {
    items: page.map((match) => match.code),
    nextCursor: hasMore ? encodeCodeCursor({ rank: last.rank, index: last.index }) : null,
  }
}

function rankOf(code: ValueSetCode, text: string, words: readonly string[]): Rank | null {
  if (words.length === 0) return RANK.words
  const codeText = normalize(code.code)
  const display = normalize(code.display)

  if (codeText === text || display === text) return RANK.exact
  if (codeText.startsWith(text) || display.startsWith(text)) return RANK.prefix
  const haystack = `${codeText} ${display}`
  return words.every((word) => haystack.includes(word)) ? RANK.words : null
}

/**
 * Lower-cases, drops accents and apostrophes, and turns punctuation other than the dot of a code
 * into spaces, so that `alzheimers`, `Alzheimer's` and `ALZHEIMER'S` match alike.
 */
function normalize(value: string): string {
  return value
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/['\u2019]/g, '')
    .replace(/[^\p{L}\p{N}.]+/gu, ' ')
    .trim()
}

function encodeCodeCursor(cursor: CodeCursor): string {
  return Buffer.from(`${cursor.rank}|${cursor.index}`).toString('base64url')
}

function decodeCodeCursor(value: string | undefined): CodeCursor | undefined {
  if (value === undefined) return undefined
  const match = /^([0-2])\|(\d{1,9})$/.exec(Buffer.from(value, 'base64url').toString('utf8'))
  if (!match) {
    throw new ValidationError('Invalid cursor', [
      { path: 'cursor', message: 'Pass the nextCursor of a previous page unchanged' },
    ])
  }
  return { rank: Number(match[1]) as Rank, index: Number(match[2]) }
}
