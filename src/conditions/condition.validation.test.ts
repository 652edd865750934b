import { describe, expect, it } from 'vitest'
import { NeurologyValueSet } from '../fhir/neurology-value-set.ts'
import type { ConditionFields } from './condition.schemas.ts'
import { findCodeFlags, validateConditionFields } from './condition.validation.ts'

const valueSet = NeurologyValueSet.fromFile()

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
    expect(validateConditionFields(conditionFields(), valueSet)).toEqual([])
  })

  it('rejects a clinical status on an entry made in error', () => {
    const errors = validateConditionFields(
      conditionFields({ verificationStatus: 'entered-in-error' }),
      valueSet,
    )
    expect(errors.map((error) => error.path)).toEqual(['clinicalStatus'])
  })

  it('rejects an active condition with an abatement', () => {
    const errors = validateConditionFields(
      conditionFields({ abatement: { dateTime: '2020' } }),
      valueSet,
    )
    expect(errors.map((error) => error.path)).toEqual(['clinicalStatus'])
  })

  it('accepts a resolved condition with an abatement', () => {
    const fields = conditionFields({ clinicalStatus: 'resolved', abatement: { dateTime: '2020' } })
    expect(validateConditionFields(fields, valueSet)).toEqual([])
  })

  it('rejects a code without SNOMED CT or ICD-10-CM', () => {
    const errors = validateConditionFields(
      conditionFields({ code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] } }),
      valueSet,
    )
    expect(errors.map((error) => error.path)).toEqual(['code.coding'])
  })

  it('reports a bad code and a bad status together', () => {
    const errors = validateConditionFields(
      conditionFields({
        code: { coding: [{ ...EPILEPSY, code: '84757008' }] },
        verificationStatus: 'entered-in-error',
      }),
      valueSet,
    )
    expect(errors.map((error) => error.path)).toEqual(['code.coding.0.code', 'clinicalStatus'])
  })
})

describe('findCodeFlags', () => {
  it('flags nothing on fields an API write accepts', () => {
    expect(findCodeFlags(conditionFields(), valueSet)).toEqual([])
  })

  it('flags statuses outside their value sets', () => {
    const flags = findCodeFlags(
      conditionFields({ clinicalStatus: 'unknown', verificationStatus: 'Confirmed' }),
      valueSet,
    )

    expect(flags.map((flag) => flag.path)).toEqual(['clinicalStatus', 'verificationStatus'])
  })

  it('flags an unlisted chapter G code', () => {
    const code = {
      coding: [EPILEPSY, { system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'G40.99' }],
    }

    const flags = findCodeFlags(conditionFields({ code }), valueSet)

    expect(flags.map((flag) => flag.path)).toEqual(['code.coding.1.code'])
  })

  it('flags a code with text only', () => {
    const flags = findCodeFlags(conditionFields({ code: { text: 'Seizures' } }), valueSet)

    expect(flags.map((flag) => flag.path)).toEqual(['code.coding'])
  })

  it('leaves the status invariants to writes', () => {
    const fields = conditionFields({ verificationStatus: 'entered-in-error' })

    expect(findCodeFlags(fields, valueSet)).toEqual([])
  })
})
