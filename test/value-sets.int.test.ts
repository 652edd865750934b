import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Condition } from '../src/conditions/condition.schemas.ts'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { startTestRegistry, type TestRegistry } from './harness.ts'

const SNOMED_CT = 'http://snomed.info/sct'
const ICD_10_CM = 'http://hl7.org/fhir/sid/icd-10-cm'

interface ValueSetSummary {
  id: string
  title: string
  description: string
  systems: string[]
  codeCount: number
}

interface CodePage {
  items: { system: string; code: string; display: string }[]
  nextCursor: string | null
}

interface Problem {
  code: string
  errors?: { path: string; message: string }[]
}

let t: TestRegistry

beforeAll(async () => {
  t = await startTestRegistry('value_sets')
})

afterAll(async () => {
  await t.stop()
})

async function listCodes(id: string, query: string): Promise<CodePage> {
  const response = await t.api('GET', `/value-sets/${id}/codes?${query}`)
  expect(response.status).toBe(200)
  return (await response.json()) as CodePage
}

describe('GET /value-sets', () => {
  it('lists the four value sets with their systems and counts', async () => {
    const response = await t.api('GET', '/value-sets')
    const body = (await response.json()) as { items: ValueSetSummary[] }
    const byId = new Map(body.items.map((valueSet) => [valueSet.id, valueSet]))

    expect(response.status).toBe(200)
    expect([...byId.keys()]).toEqual([
      'neurological-conditions',
      'administrative-gender',
      'condition-clinical-status',
      'condition-verification-status',
    ])
    expect(byId.get('neurological-conditions')?.systems).toEqual([SNOMED_CT, ICD_10_CM])
    expect(byId.get('neurological-conditions')?.codeCount).toBeGreaterThan(900)
    expect(byId.get('administrative-gender')?.codeCount).toBe(4)
    expect(byId.get('condition-clinical-status')?.codeCount).toBe(6)
    expect(byId.get('condition-verification-status')?.codeCount).toBe(6)
  })

  it('answers an auditor', async () => {
    const response = await t.api('GET', '/value-sets', undefined, {
      Authorization: await t.authorizationFor(['auditor']),
    })

    expect(response.status).toBe(200)
  })

  it('rejects a caller without a token', async () => {
    const response = await t.api('GET', '/value-sets', undefined, { Authorization: '' })

    expect(response.status).toBe(401)
  })
})

describe('GET /value-sets/{id}/codes', () => {
  it('finds codes by words in any order', async () => {
    const page = await listCodes(
      'neurological-conditions',
      new URLSearchParams({ text: 'intractable epilepsy unspecified', limit: '10' }).toString(),
    )

    expect(page.items.map((item) => item.code)).toEqual([
      'G40.90',
      'G40.901',
      'G40.909',
      'G40.91',
      'G40.911',
      'G40.919',
    ])
  })

  it('puts an exact display first', async () => {
    const page = await listCodes('neurological-conditions', 'text=migraine&limit=3')

    expect(page.items[0]).toEqual({ system: SNOMED_CT, code: '37796009', display: 'Migraine' })
    expect(page.items[1]?.code).toBe('G43')
  })

  it('filters by system', async () => {
    const page = await listCodes(
      'neurological-conditions',
      new URLSearchParams({ text: 'epilepsy', system: SNOMED_CT }).toString(),
    )

    expect(page.items.map((item) => item.code)).toEqual(['84757009'])
  })

  it('pages with the cursor', async () => {
    const first = await listCodes('neurological-conditions', 'text=G40.0&limit=4')
    const second = await listCodes(
      'neurological-conditions',
      `text=G40.0&limit=4&cursor=${first.nextCursor ?? ''}`,
    )

    expect(first.items.map((item) => item.code)).toEqual(['G40.0', 'G40.00', 'G40.001', 'G40.009'])
    expect(second.items.map((item) => item.code)).toEqual(['G40.01', 'G40.011', 'G40.019'])
    expect(second.nextCursor).toBeNull()
  })

  it('lists the clinical statuses with displays', async () => {
    const page = await listCodes('condition-clinical-status', '')

    expect(page.items.map((item) => item.code)).toEqual([
      'active',
      'recurrence',
      'relapse',
      'inactive',
      'remission',
      'resolved',
    ])
    expect(page.items[0]?.display).toBe('Active')
  })

  it('answers 404 for an unknown value set', async () => {
    const response = await t.api('GET', '/value-sets/blood-groups/codes')
    const problem = (await response.json()) as Problem

    expect(response.status).toBe(404)
    expect(response.headers.get('content-type')).toContain('application/problem+json')
    expect(problem.code).toBe('NOT_FOUND')
  })

  it.each([
    ['a system the set lacks', `system=${encodeURIComponent(SNOMED_CT)}`, 'system'],
    ['a bad cursor', 'cursor=nonsense', 'cursor'],
    ['a limit over 200', 'limit=500', 'limit'],
  ])('answers 400 for %s', async (_case, query, path) => {
    const response = await t.api('GET', `/value-sets/administrative-gender/codes?${query}`)
    const problem = (await response.json()) as Problem

    expect(response.status).toBe(400)
    expect(problem.code).toBe('VALIDATION_FAILED')
    expect(problem.errors?.map((error) => error.path)).toEqual([path])
  })
})

describe('condition writes against the value sets', () => {
  let patient: Patient

  beforeAll(async () => {
    const response = await t.api('POST', '/patients', { names: [{ family: 'Okonkwo' }] })
    expect(response.status).toBe(201)
    patient = (await response.json()) as Patient
  })

  it('accepts a listed chapter G code', async () => {
    const response = await t.api('POST', '/conditions', {
      patientId: patient.id,
      code: { coding: [{ system: ICD_10_CM, code: 'G35.A' }] },
    })
    const condition = (await response.json()) as Condition

    expect(response.status).toBe(201)
    expect(condition.isNeurological).toBe(true)
    expect(condition.codeFlags).toEqual([])
  })

  it('rejects a nonexistent chapter G code', async () => {
    const response = await t.api('POST', '/conditions', {
      patientId: patient.id,
      code: {
        coding: [
          { system: SNOMED_CT, code: '84757009' },
          { system: ICD_10_CM, code: 'G40.99' },
        ],
      },
    })
    const problem = (await response.json()) as Problem

    expect(response.status).toBe(400)
    expect(problem.code).toBe('VALIDATION_FAILED')
    expect(problem.errors?.map((error) => error.path)).toEqual(['code.coding.1.code'])
  })

  it('accepts a condition outside the neurological value set', async () => {
    const response = await t.api('POST', '/conditions', {
      patientId: patient.id,
      code: { coding: [{ system: ICD_10_CM, code: 'I10' }] },
    })
    const condition = (await response.json()) as Condition

    expect(response.status).toBe(201)
    expect(condition.isNeurological).toBe(false)
    expect(condition.codeFlags).toEqual([])
  })

  it('rejects a clinical status outside its value set', async () => {
    const response = await t.api('POST', '/conditions', {
      patientId: patient.id,
      code: { coding: [{ system: SNOMED_CT, code: '84757009' }] },
      clinicalStatus: 'unknown',
    })
    const problem = (await response.json()) as Problem

    expect(response.status).toBe(400)
    expect(problem.errors?.map((error) => error.path)).toEqual(['clinicalStatus'])
  })
})
