import { describe, expect, it } from 'vitest'
import { FIRST_PAGE, nextPage, pageNumber, previousPage } from './cursor-pages.ts'

describe('cursor pages', () => {
  it('goes forward and back to the same cursors', () => {
    const second = nextPage(FIRST_PAGE, 'c2')
    const third = nextPage(second, 'c3')

    expect(pageNumber(third)).toBe(3)
    expect(previousPage(third)).toEqual(second)
    expect(previousPage(second)).toEqual(FIRST_PAGE)
  })

  it('stays on the first page when going back from it', () => {
    expect(previousPage(FIRST_PAGE)).toBe(FIRST_PAGE)
    expect(pageNumber(FIRST_PAGE)).toBe(1)
  })
})
