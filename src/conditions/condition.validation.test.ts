import { describe, expect, it } from 'vitest'
import type { ConditionFields } from './condition.schemas.ts'
import { validateConditionFields } from './condition.validation.ts'

const EPILEPSY = { system: 'http://snomed.info/sct', code: '84757009' }

function conditionFields(fields: Partial<ConditionFields> = {}): ConditionFields {
  return {
    code: { coding: [EPILEPSY] },
    clinicalStatus: 'active',
    verificationStatus: 'confirmed',
    onset: null,
    abatement: null,
    recordedDate: null,
    ...fields,
  }
}

describe('validateConditionFields', () => {
  it('accepts a confirmed active condition', () => {
    expect(validateConditionFields(conditionFields())).toEqual([])
  })

  it('rejects a clinical status on an entry made in error', () => {
    const errors = validateConditionFields(
      conditionFields({ verificationStatus: 'entered-in-error' }),
    )
    expect(errors.map((error) => error.path)).toEqual(['clinicalStatus'])
  })

  it('rejects an active condition with an abatement', () => {
    const errors = validateConditionFields(conditionFields({ abatement: { dateTime: '2020' } }))
    expect(errors.map((error) => error.path)).toEqual(['clinicalStatus'])
  })

  it('accepts a resolved condition with an abatement', () => {
    const fields = conditionFields({ clinicalStatus: 'resolved', abatement: { dateTime: '2020' } })
    expect(validateConditionFields(fields)).toEqual([])
  })

  it('rejects a code without SNOMED CT or ICD-10-CM', () => {
    const errors = validateConditionFields(
      conditionFields({ code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] } }),
    )
    expect(errors.map((error) => error.path)).toEqual(['code.coding'])
  })

  it('reports a bad code and a bad status together', () => {
    const errors = validateConditionFields(
      conditionFields({
        code: { coding: [{ ...EPILEPSY, code: '84757008' }] },
        verificationStatus: 'entered-in-error',
      }),
    )
    expect(errors.map((error) => error.path)).toEqual(['code.coding.0.code', 'clinicalStatus'])
  })
})
