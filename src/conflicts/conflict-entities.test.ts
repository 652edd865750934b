import { describe, expect, it } from 'vitest'
import { ConditionRepository } from '../conditions/condition.repository.ts'
import { NeurologyValueSet } from '../fhir/neurology-value-set.ts'
import { PATIENT_FIELD_SHAPES } from '../merge/merge-views.ts'
import { PatientRepository } from '../patients/patient.repository.ts'
import {
  conditionConflictEntity,
  patientConflictEntity,
  readPart,
  writePart,
} from './conflict-entities.ts'

const REGISTRY_SYSTEM = 'https://brain-registry.example.org/fhir/sid/patient'
const SNOMED_CT = 'http://snomed.info/sct'
const HOME = { system: 'phone', value: '555-0100', use: 'home' }
const WORK = { system: 'phone', value: '555-0199', use: 'work' }

const patient = patientConflictEntity(new PatientRepository(), REGISTRY_SYSTEM)
const condition = conditionConflictEntity(new ConditionRepository(), new NeurologyValueSet([], []))

describe('readPart', () => {
  it('reads one element by its natural key', () => {
    expect(readPart(PATIENT_FIELD_SHAPES.telecom, [HOME, WORK], 'phone|555-0199')).toEqual(WORK)
  })

  it('reads the whole field when the conflict names no element', () => {
    expect(readPart(PATIENT_FIELD_SHAPES.telecom, [HOME, WORK], null)).toEqual([HOME, WORK])
  })

  it('reads an absent element as undefined', () => {
    expect(readPart(PATIENT_FIELD_SHAPES.telecom, [HOME], 'phone|555-0199')).toBeUndefined()
  })
})

describe('writePart', () => {
  it('replaces one element and keeps the others', () => {
    const changed = { ...WORK, use: 'mobile' }
    expect(
      writePart(PATIENT_FIELD_SHAPES.telecom, [HOME, WORK], 'phone|555-0199', changed),
    ).toEqual([HOME, changed])
  })

  it('removes an element for a null part', () => {
    expect(writePart(PATIENT_FIELD_SHAPES.telecom, [HOME, WORK], 'phone|555-0100', null)).toEqual([
      WORK,
    ])
  })

  it('stores an empty list for a null whole list', () => {
    expect(writePart(PATIENT_FIELD_SHAPES.telecom, [HOME], null, null)).toEqual([])
  })

  it('stores null for a null value field', () => {
    expect(writePart(PATIENT_FIELD_SHAPES.birthDate, '1970', null, null)).toBeNull()
  })
})

describe('partSchema', () => {
  it('accepts a valid telecom element or null', () => {
    const schema = patient.partSchema('telecom', 'phone|555-0100')
    expect(schema?.safeParse(HOME).success).toBe(true)
    expect(schema?.safeParse(null).success).toBe(true)
  })

  it('rejects a telecom element with an unknown use', () => {
    const schema = patient.partSchema('telecom', 'phone|555-0100')
    expect(schema?.safeParse({ ...HOME, use: 'pigeon' }).success).toBe(false)
  })

  it('takes the whole list when the conflict names no element', () => {
    const schema = patient.partSchema('telecom', null)
    expect(schema?.safeParse([HOME, WORK]).success).toBe(true)
    expect(schema?.safeParse(HOME).success).toBe(false)
  })

  it('rejects an impossible birth date', () => {
    expect(patient.partSchema('birthDate', null)?.safeParse('1971-02-30').success).toBe(false)
  })

  it("takes a coding for a code's system key", () => {
    const schema = condition.partSchema('code', SNOMED_CT)
    expect(schema?.safeParse({ system: SNOMED_CT, code: '84757009' }).success).toBe(true)
    expect(schema?.safeParse({ text: 'Epilepsy' }).success).toBe(false)
  })

  it("takes the text members for a code's text key", () => {
    const schema = condition.partSchema('code', 'text')
    expect(schema?.safeParse({ text: 'Epilepsy' }).success).toBe(true)
    expect(schema?.safeParse({ coding: [] }).success).toBe(false)
  })

  it('knows no schema for an unknown field', () => {
    expect(patient.partSchema('shoeSize', null)).toBeUndefined()
  })
})

describe('validateFields', () => {
  it('reports the condition status invariants', () => {
    const errors = condition.validateFields({
      code: { coding: [{ system: SNOMED_CT, code: '84757009' }] },
      clinicalStatus: 'active',
      verificationStatus: 'entered-in-error',
      onset: null,
      abatement: null,
      recordedDate: null,
    })
    expect(errors.map((error) => error.path)).toEqual(['clinicalStatus'])
  })

  it('reports an invalid patient field by its path', () => {
    const errors = patient.validateFields({
      names: [],
      birthDate: '1980',
      gender: 'robot',
      identifiers: [],
      telecom: [],
      addresses: [],
      deceased: null,
    })
    expect(errors.map((error) => error.path)).toEqual(['gender'])
  })
})
