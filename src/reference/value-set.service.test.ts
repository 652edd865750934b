import { describe, expect, it } from 'vitest'
import { NeurologyValueSet } from '../fhir/neurology-value-set.ts'
import { NotFoundError, ValidationError } from '../platform/errors.ts'
import { NEUROLOGICAL_VALUE_SET_ID, ValueSetService } from './value-set.service.ts'

const SNOMED_CT = 'http://snomed.info/sct'
const ICD_10_CM = 'http://hl7.org/fhir/sid/icd-10-cm'

const service = new ValueSetService({ neurology: NeurologyValueSet.fromFile() })

describe('ValueSetService.list', () => {
  it('lists the four value sets', () => {
    expect(service.list().map((valueSet) => valueSet.id)).toEqual([
      NEUROLOGICAL_VALUE_SET_ID,
      'administrative-gender',
      'condition-clinical-status',
      'condition-verification-status',
    ])
  })

  it('counts codes and names the systems', () => {
    const summaries = new Map(service.list().map((valueSet) => [valueSet.id, valueSet]))
    const neurological = summaries.get(NEUROLOGICAL_VALUE_SET_ID)

    expect(neurological?.systems).toEqual([SNOMED_CT, ICD_10_CM])
    expect(neurological?.codeCount).toBeGreaterThan(900)
    expect(summaries.get('condition-clinical-status')?.codeCount).toBe(6)
    expect(summaries.get('administrative-gender')?.systems).toEqual([
      'http://hl7.org/fhir/administrative-gender',
    ])
  })
})

describe('ValueSetService.listCodes', () => {
  it('finds SNOMED CT and ICD-10-CM codes of a condition', () => {
    const page = service.listCodes(NEUROLOGICAL_VALUE_SET_ID, {
      text: 'multiple sclerosis',
      limit: 50,
    })

    expect(page.items[0]).toEqual({
      system: SNOMED_CT,
      code: '24700007',
      display: 'Multiple sclerosis',
    })
    expect(page.items.map((item) => item.code)).toContain('G35.A')
  })

  it('throws NotFoundError for an unknown set', () => {
    expect(() => service.listCodes('no-such-set', { limit: 10 })).toThrow(NotFoundError)
  })

  it('throws ValidationError for a system the set lacks', () => {
    expect(() =>
      service.listCodes('administrative-gender', { system: SNOMED_CT, limit: 10 }),
    ).toThrow(ValidationError)
  })

  it('lists only the SNOMED CT concepts without a chapter G list', () => {
    const withoutList = new ValueSetService({
      neurology: new NeurologyValueSet(['84757009'], ['G'], {
        snomedCtDisplays: { '84757009': 'Epilepsy' },
      }),
    })

    expect(withoutList.listCodes(NEUROLOGICAL_VALUE_SET_ID, { limit: 10 }).items).toEqual([
      { system: SNOMED_CT, code: '84757009', display: 'Epilepsy' },
    ])
  })
})
