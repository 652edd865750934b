import { describe, expect, it } from 'vitest'
import { conditionFieldsSchema } from '../conditions/condition.schemas.ts'
import { patientFieldsSchema } from '../patients/patient.schemas.ts'
import { ConfigError } from '../platform/config.ts'
import {
  CONDITION_MERGE_FIELDS,
  DEFAULT_MERGE_RULES,
  MERGE_RULE_NAMES,
  PATIENT_MERGE_FIELDS,
  mergeRulesFrom,
} from './merge-rules.ts'
import {
  CONDITION_FIELD_SHAPES,
  PATIENT_FIELD_SHAPES,
  conditionMergeView,
  patientMergeView,
} from './merge-views.ts'

function configErrorOf(overrides: string): ConfigError {
  try {
    mergeRulesFrom(overrides)
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error(`Expected a ConfigError for MERGE_RULES=${overrides}`)
}

describe('mergeRulesFrom', () => {
  it('returns the defaults without overrides', () => {
    expect(mergeRulesFrom(undefined)).toEqual(DEFAULT_MERGE_RULES)
    expect(mergeRulesFrom('')).toEqual(DEFAULT_MERGE_RULES)
  })

  it('applies overrides and keeps other defaults', () => {
    const rules = mergeRulesFrom('patient.gender=manual, condition.onset=fhir')

    expect(rules.patient).toEqual({ ...DEFAULT_MERGE_RULES.patient, gender: 'manual' })
    expect(rules.condition).toEqual({ ...DEFAULT_MERGE_RULES.condition, onset: 'fhir' })
  })

  it('applies the last of repeated entries', () => {
    const rules = mergeRulesFrom('patient.names=manual,patient.names=registry')

    expect(rules.patient.names).toBe('registry')
  })

  it('leaves the defaults unchanged', () => {
    mergeRulesFrom('patient.gender=manual')

    expect(DEFAULT_MERGE_RULES.patient.gender).toBe('lww')
  })

  it('ignores blank entries', () => {
    const rules = mergeRulesFrom(' , patient.deceased=lww,, ,')

    expect(rules.patient).toEqual({ ...DEFAULT_MERGE_RULES.patient, deceased: 'lww' })
    expect(rules.condition).toEqual(DEFAULT_MERGE_RULES.condition)
  })

  it('rejects an unknown rule', () => {
    const error = configErrorOf('patient.gender=newest')

    expect(error.message).toContain('MERGE_RULES')
    expect(error.message).toContain('patient.gender')
    expect(error.message).toContain('"newest"')
    expect(error.message).toContain(MERGE_RULE_NAMES.join(', '))
  })

  it('rejects an empty rule', () => {
    const error = configErrorOf('condition.code=')

    expect(error.message).toContain('condition.code')
    expect(error.message).toContain(MERGE_RULE_NAMES.join(', '))
  })

  it('rejects an unknown field', () => {
    const error = configErrorOf('condition.severity=lww')

    expect(error.message).toContain('condition.severity')
    expect(error.message).toContain(CONDITION_MERGE_FIELDS.join(', '))
  })

  it('rejects a field of the other entity', () => {
    const error = configErrorOf('patient.onset=lww')

    expect(error.message).toContain('patient.onset')
    expect(error.message).toContain(PATIENT_MERGE_FIELDS.join(', '))
  })

  it.each(['gender=manual', 'patient.gender', 'encounter.status=lww', 'patient.gender manual'])(
    'rejects the malformed entry %s',
    (entry) => {
      const error = configErrorOf(entry)

      expect(error.message).toContain(`"${entry}"`)
      expect(error.message).toContain('entity.field=rule')
    },
  )

  it('reports every bad entry at once', () => {
    const error = configErrorOf('patient.gender=newest,patient.shoeSize=lww,nonsense')

    expect(error.message).toContain('patient.gender')
    expect(error.message).toContain('patient.shoeSize')
    expect(error.message).toContain('"nonsense"')
  })
})

describe('merge fields', () => {
  it.each(PATIENT_MERGE_FIELDS)('gives patient.%s a default rule and a shape', (field) => {
    expect(MERGE_RULE_NAMES).toContain(DEFAULT_MERGE_RULES.patient[field])
    expect(PATIENT_FIELD_SHAPES[field]).toBeDefined()
  })

  it.each(CONDITION_MERGE_FIELDS)('gives condition.%s a default rule and a shape', (field) => {
    expect(MERGE_RULE_NAMES).toContain(DEFAULT_MERGE_RULES.condition[field])
    expect(CONDITION_FIELD_SHAPES[field]).toBeDefined()
  })

  it('lists no rule or shape for an unmerged field', () => {
    expect(Object.keys(DEFAULT_MERGE_RULES.patient).sort()).toEqual(
      [...PATIENT_MERGE_FIELDS].sort(),
    )
    expect(Object.keys(PATIENT_FIELD_SHAPES).sort()).toEqual([...PATIENT_MERGE_FIELDS].sort())
    expect(Object.keys(DEFAULT_MERGE_RULES.condition).sort()).toEqual(
      [...CONDITION_MERGE_FIELDS].sort(),
    )
    expect(Object.keys(CONDITION_FIELD_SHAPES).sort()).toEqual([...CONDITION_MERGE_FIELDS].sort())
  })

  it('covers every field of the patient merge view', () => {
    const view = patientMergeView(patientFieldsSchema.parse({}), 'https://example.org/sid/patient')

    expect(Object.keys(view).sort()).toEqual([...PATIENT_MERGE_FIELDS].sort())
  })

  it('covers every field of the condition merge view', () => {
    const fields = Object.keys(conditionFieldsSchema.shape)

    expect(fields.sort()).toEqual([...CONDITION_MERGE_FIELDS].sort())
    expect(
      Object.keys(conditionMergeView(conditionFieldsSchema.parse({ code: {} }))).sort(),
    ).toEqual([...CONDITION_MERGE_FIELDS].sort())
  })
})
