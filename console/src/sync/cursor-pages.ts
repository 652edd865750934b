/**
 * Position in a cursor-paged list: the cursors of the pages before the current one, so that
 * "Previous" can go back although the API returns only the next page's cursor.
 */
export interface CursorPages {
  /** Cursor of each page before the current one, undefined for the first page. */
  previous: (string | undefined)[]
  current: string | undefined
}

export const FIRST_PAGE: CursorPages = { previous: [], current: undefined }

export function nextPage(pages: CursorPages, nextCursor: string): CursorPages {
  return { previous: [...pages.previous, pages.current], current: nextCursor }
}

export function previousPage(pages: CursorPages): CursorPages {
  if (pages.previous.length === 0) return pages
  return { previous: pages.previous.slice(0, -1), current: pages.previous.at(-1) }
}

/** Returns the 1-based number of the current page, for "Page 2". */
export function pageNumber(pages: CursorPages): number {
  return pages.previous.length + 1
}
