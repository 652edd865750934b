import { describe, expect, it } from 'vitest'
import { patientFieldsSchema } from './patient.schemas.ts'

function issuesOf(input: unknown): { path: string; message: string }[] {
  const result = patientFieldsSchema.safeParse(input)
  return result.success
    ? []
    : result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }))
}

describe('patientFieldsSchema', () => {
  it('reports a malformed birth date once', () => {
    const issues = issuesOf({ birthDate: 'not-a-date' })

    expect(issues.map((issue) => issue.path)).toEqual(['birthDate'])
  })

  it('rejects a birth date in the future', () => {
    expect(issuesOf({ birthDate: '2999-01-01' }).map((issue) => issue.path)).toEqual(['birthDate'])
  })

  it('accepts a birth date of this year', () => {
    expect(issuesOf({ birthDate: new Date().toISOString().slice(0, 4) })).toEqual([])
  })

  it('rejects a date of death in the future', () => {
    const issues = issuesOf({ deceased: { dateTime: '2999-01-01T10:00:00Z' } })

    expect(issues).toHaveLength(1)
  })

  it('accepts a date of death in the past', () => {
    expect(issuesOf({ deceased: { dateTime: '2021-03-04T10:00:00+01:00' } })).toEqual([])
  })
})
