import { describe, expect, it } from 'vitest'
import { ValidationError } from '../platform/errors.ts'
import { searchCodes } from './code-search.ts'
import type { ValueSetCode } from './value-sets.ts'

const SNOMED_CT = 'http://snomed.info/sct'
const ICD_10_CM = 'http://hl7.org/fhir/sid/icd-10-cm'

const CODES: ValueSetCode[] = [
  { system: SNOMED_CT, code: '84757009', display: 'Epilepsy' },
  { system: SNOMED_CT, code: '26929004', display: "Alzheimer's disease" },
  { system: SNOMED_CT, code: '40956001', display: 'Guillain-Barré syndrome' },
  { system: ICD_10_CM, code: 'G40', display: 'Epilepsy and recurrent seizures' },
  {
    system: ICD_10_CM,
    code: 'G40.909',
    display: 'Epilepsy, unspecified, not intractable, without status epilepticus',
  },
  {
    system: ICD_10_CM,
    code: 'G40.919',
    display: 'Epilepsy, unspecified, intractable, without status epilepticus',
  },
  { system: ICD_10_CM, code: 'G30.9', display: "Alzheimer's disease, unspecified" },
  { system: ICD_10_CM, code: 'G61.0', display: 'Guillain-Barre syndrome' },
]

function codesOf(items: readonly ValueSetCode[]): string[] {
  return items.map((item) => item.code)
}

describe('searchCodes', () => {
  it('lists every code in order without text', () => {
    const page = searchCodes(CODES, { limit: 50 })

    expect(codesOf(page.items)).toEqual(codesOf(CODES))
    expect(page.nextCursor).toBeNull()
  })

  it('matches the code, any case', () => {
    expect(codesOf(searchCodes(CODES, { text: 'g40.9', limit: 50 }).items)).toEqual([
      'G40.909',
      'G40.919',
    ])
  })

  it('matches words in any order', () => {
    const page = searchCodes(CODES, { text: 'intractable epilepsy without', limit: 50 })

    expect(codesOf(page.items)).toEqual(['G40.909', 'G40.919'])
  })

  it('ranks exact, then leading, then inner matches', () => {
    const page = searchCodes(CODES, { text: 'epilepsy', limit: 50 })

    expect(codesOf(page.items)).toEqual(['84757009', 'G40', 'G40.909', 'G40.919'])
  })

  it('ignores apostrophes', () => {
    const page = searchCodes(CODES, { text: 'alzheimers', limit: 50 })

    expect(codesOf(page.items)).toEqual(['26929004', 'G30.9'])
  })

  it('ignores accents and hyphens', () => {
    const page = searchCodes(CODES, { text: 'guillain barre', limit: 50 })

    expect(codesOf(page.items)).toEqual(['40956001', 'G61.0'])
  })

  it('filters by system', () => {
    const page = searchCodes(CODES, { text: 'epilepsy', system: SNOMED_CT, limit: 50 })

    expect(codesOf(page.items)).toEqual(['84757009'])
  })

  it('returns nothing for text that matches nothing', () => {
    expect(searchCodes(CODES, { text: 'hypertension', limit: 50 }).items).toEqual([])
  })

  it('pages through every match once', () => {
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = searchCodes(CODES, { text: 'epilepsy', limit: 1, cursor })
      seen.push(...codesOf(page.items))
      cursor = page.nextCursor ?? undefined
      pages++
    } while (cursor !== undefined && pages < 10)

    expect(seen).toEqual(['84757009', 'G40', 'G40.909', 'G40.919'])
    expect(pages).toBe(4)
  })

  it('gives no cursor when the last page is full', () => {
    const page = searchCodes(CODES, { text: 'alzheimer', limit: 2 })

    expect(page.items).toHaveLength(2)
    expect(page.nextCursor).toBeNull()
  })

  it.each(['not-a-cursor', Buffer.from('3|1').toString('base64url'), ''])(
    'rejects the cursor %j',
    (cursor) => {
      expect(() => searchCodes(CODES, { limit: 10, cursor })).toThrow(ValidationError)
    },
  )
})
