import { useState } from 'react'

/**
 * The cursors of the pages shown so far. The API returns only the next page's cursor, so going
 * back reuses the cursors kept here; the first page has none.
 */
export function useCursorStack() {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined])
  return {
    cursor: cursors.at(-1),
    pageNumber: cursors.length,
    next: (cursor: string) => {
      setCursors([...cursors, cursor])
    },
    previous: () => {
      setCursors(cursors.slice(0, -1))
    },
    /** Goes back to the first page, as after a change of filters. */
    reset: () => {
      setCursors([undefined])
    },
  }
}

/** Previous and next buttons for cursor paging, in a navigation landmark named by `label`. */
export function Pager({
  label,
  pageNumber,
  nextCursor,
  loading,
  onNext,
  onPrevious,
}: {
  label: string
  pageNumber: number
  nextCursor: string | null | undefined
  loading: boolean
  onNext: (cursor: string) => void
  onPrevious: () => void
}) {
  return (
    <nav className="pager" aria-label={label}>
      <button type="button" className="secondary" disabled={pageNumber === 1} onClick={onPrevious}>
        Previous page
      </button>
      <span>Page {pageNumber}</span>
      <button
        type="button"
        className="secondary"
        disabled={!nextCursor || loading}
        onClick={() => {
          if (nextCursor) onNext(nextCursor)
        }}
      >
        Next page
      </button>
    </nav>
  )
}
