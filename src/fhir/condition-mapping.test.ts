import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Bundle, Condition as FhirCondition } from '@medplum/fhirtypes'
import { describe, expect, it } from 'vitest'
import type { ConditionFields } from '../conditions/condition.schemas.ts'
import {
  conditionFieldsFromResource,
  conditionResourceFromFields,
  patientIdFromReference,
} from './condition-mapping.ts'
import {
  CONDITION_CLINICAL_STATUS,
  CONDITION_VERIFICATION_STATUS,
  ICD_10_CM,
  SNOMED_CT,
} from './constants.ts'

const DATA_DIR = process.env.SAMPLE_DATA_DIR ?? join(import.meta.dirname, '../../../shared/data')
const MAPPED_ELEMENTS = [
  'code',
  'clinicalStatus',
  'verificationStatus',
  'onsetDateTime',
  'onsetAge',
  'onsetPeriod',
  'onsetRange',
  'onsetString',
  'abatementDateTime',
  'abatementAge',
  'abatementPeriod',
  'abatementRange',
  'abatementString',
  'recordedDate',
] as const

function pickMapped(resource: FhirCondition): Partial<FhirCondition> {
  const picked: Partial<FhirCondition> = {}
  for (const key of MAPPED_ELEMENTS) {
    if (resource[key] !== undefined) Object.assign(picked, { [key]: resource[key] })
  }
  return picked
}

function loadSyntheaConditions(): [string, FhirCondition][] {
  const dir = join(DATA_DIR, 'synthea')
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .flatMap((file) => {
      const bundle = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Bundle
      return (bundle.entry ?? [])
        .map((entry) => entry.resource)
        .filter((resource) => resource?.resourceType === 'Condition')
        .map((resource): [string, FhirCondition] => [`${file} ${resource.id ?? ''}`, resource])
    })
}

function loadBulkConditions(): [string, FhirCondition][] {
  return readFileSync(join(DATA_DIR, 'bulk-10-patients/Condition.ndjson'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as FhirCondition)
    .map((resource): [string, FhirCondition] => [resource.id ?? '', resource])
}

const EPILEPSY: FhirCondition = {
  resourceType: 'Condition',
  id: 'c1',
  clinicalStatus: { coding: [{ system: CONDITION_CLINICAL_STATUS, code: 'active' }] },
  verificationStatus: { coding: [{ system: CONDITION_VERIFICATION_STATUS, code: 'confirmed' }] },
  category: [
    {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/condition-category',
          code: 'encounter-diagnosis',
        },
      ],
    },
  ],
  code: {
    coding: [
      { system: SNOMED_CT, code: '84757009', display: 'Epilepsy' },
      { system: ICD_10_CM, code: 'G40.909', display: 'Epilepsy, unspecified' },
    ],
    text: 'Epilepsy',
  },
  subject: { reference: 'Patient/p1' },
  encounter: { reference: 'Encounter/e1' },
  onsetDateTime: '2015-01',
  recordedDate: '2015-02-03T10:30:00Z',
}

const UNTIMED: FhirCondition = { ...EPILEPSY }
delete UNTIMED.onsetDateTime

function fieldsOf(overrides: Partial<ConditionFields>): ConditionFields {
  return { ...conditionFieldsFromResource(EPILEPSY), ...overrides }
}

describe('conditionFieldsFromResource', () => {
  it('reads every mapped element', () => {
    expect(conditionFieldsFromResource(EPILEPSY)).toEqual({
      code: EPILEPSY.code,
      clinicalStatus: 'active',
      verificationStatus: 'confirmed',
      onset: { dateTime: '2015-01' },
      abatement: null,
      recordedDate: '2015-02-03T10:30:00Z',
    })
  })

  it('reads the status code of its own system before others', () => {
    const resource: FhirCondition = {
      ...EPILEPSY,
      clinicalStatus: {
        coding: [
          { system: 'http://example.org/local-status', code: 'open' },
          { system: CONDITION_CLINICAL_STATUS, code: 'relapse' },
        ],
      },
    }

    expect(conditionFieldsFromResource(resource).clinicalStatus).toBe('relapse')
  })

  it('reads a Condition without code or status', () => {
    const resource: FhirCondition = {
      resourceType: 'Condition',
      subject: { reference: 'Patient/p1' },
    }

    expect(conditionFieldsFromResource(resource)).toEqual({
      code: {},
      clinicalStatus: null,
      verificationStatus: null,
      onset: null,
      abatement: null,
      recordedDate: null,
    })
  })
})

describe('conditionResourceFromFields', () => {
  it('round-trips every element given current', () => {
    const written = conditionResourceFromFields(
      'c1',
      'p1',
      conditionFieldsFromResource(EPILEPSY),
      EPILEPSY,
    )

    expect(written).toEqual(EPILEPSY)
  })

  it('writes the mapped elements without current', () => {
    const written = conditionResourceFromFields('c1', 'p1', conditionFieldsFromResource(EPILEPSY))

    expect(pickMapped(written)).toEqual(pickMapped(EPILEPSY))
  })

  it('round-trips code text without codings', () => {
    const resource: FhirCondition = { ...EPILEPSY, code: { text: 'Fits since childhood' } }

    const written = conditionResourceFromFields('c1', 'p1', conditionFieldsFromResource(resource))

    expect(written.code).toEqual({ text: 'Fits since childhood' })
  })

  it('leaves out code when it has neither coding nor text', () => {
    const resource: FhirCondition = {
      resourceType: 'Condition',
      subject: { reference: 'Patient/p1' },
    }

    const written = conditionResourceFromFields('c1', 'p1', conditionFieldsFromResource(resource))

    expect(written).not.toHaveProperty('code')
  })

  it.each([
    ['onsetDateTime', { onsetDateTime: '2015-01-17T08:00:00+01:00' }],
    [
      'onsetAge',
      { onsetAge: { value: 52, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' } },
    ],
    ['onsetPeriod', { onsetPeriod: { start: '2015-01', end: '2015-03' } }],
    [
      'onsetRange',
      { onsetRange: { low: { value: 40, unit: 'a' }, high: { value: 45, unit: 'a' } } },
    ],
    ['onsetString', { onsetString: 'early childhood' }],
    ['abatementDateTime', { abatementDateTime: '2019' }],
    ['abatementAge', { abatementAge: { value: 60, unit: 'a' } }],
    ['abatementPeriod', { abatementPeriod: { start: '2019-01' } }],
    ['abatementRange', { abatementRange: { low: { value: 58, unit: 'a' } } }],
    ['abatementString', { abatementString: 'after surgery' }],
  ])('round-trips %s', (_case, timing) => {
    const resource: FhirCondition = { ...UNTIMED, ...timing }

    const written = conditionResourceFromFields('c1', 'p1', conditionFieldsFromResource(resource))

    expect(pickMapped(written)).toEqual(pickMapped(resource))
  })

  it('replaces onsetDateTime with onsetAge', () => {
    const fields = fieldsOf({ onset: { age: { value: 52, unit: 'a' } } })

    const written = conditionResourceFromFields('c1', 'p1', fields, EPILEPSY)

    expect(written.onsetAge).toEqual({ value: 52, unit: 'a' })
    expect(written).not.toHaveProperty('onsetDateTime')
  })

  it('removes onset[x] when onset is null', () => {
    const written = conditionResourceFromFields('c1', 'p1', fieldsOf({ onset: null }), EPILEPSY)

    expect(written).not.toHaveProperty('onsetDateTime')
  })

  it('removes recordedDate when it is null', () => {
    const written = conditionResourceFromFields(
      'c1',
      'p1',
      fieldsOf({ recordedDate: null }),
      EPILEPSY,
    )

    expect(written).not.toHaveProperty('recordedDate')
  })

  it.each(['active', 'recurrence', 'relapse', 'inactive', 'remission', 'resolved'] as const)(
    'writes clinical status %s with its system',
    (clinicalStatus) => {
      const written = conditionResourceFromFields('c1', 'p1', fieldsOf({ clinicalStatus }))

      expect(written.clinicalStatus).toEqual({
        coding: [{ system: CONDITION_CLINICAL_STATUS, code: clinicalStatus }],
      })
    },
  )

  it.each([
    'unconfirmed',
    'provisional',
    'differential',
    'confirmed',
    'refuted',
    'entered-in-error',
  ] as const)('writes verification status %s with its system', (verificationStatus) => {
    const written = conditionResourceFromFields('c1', 'p1', fieldsOf({ verificationStatus }))

    expect(written.verificationStatus).toEqual({
      coding: [{ system: CONDITION_VERIFICATION_STATUS, code: verificationStatus }],
    })
  })

  it('keeps a status concept with display when its code is unchanged', () => {
    const current: FhirCondition = {
      ...EPILEPSY,
      clinicalStatus: {
        coding: [{ system: CONDITION_CLINICAL_STATUS, code: 'active', display: 'Active' }],
        text: 'Active',
      },
    }

    const written = conditionResourceFromFields(
      'c1',
      'p1',
      fieldsOf({ clinicalStatus: 'active' }),
      current,
    )

    expect(written.clinicalStatus).toEqual(current.clinicalStatus)
  })

  it('replaces a status concept whose code changed', () => {
    const current: FhirCondition = {
      ...EPILEPSY,
      clinicalStatus: {
        coding: [{ system: CONDITION_CLINICAL_STATUS, code: 'active', display: 'Active' }],
      },
    }

    const written = conditionResourceFromFields(
      'c1',
      'p1',
      fieldsOf({ clinicalStatus: 'remission' }),
      current,
    )

    expect(written.clinicalStatus).toEqual({
      coding: [{ system: CONDITION_CLINICAL_STATUS, code: 'remission' }],
    })
  })

  it('removes a status that is null', () => {
    const written = conditionResourceFromFields(
      'c1',
      'p1',
      fieldsOf({ verificationStatus: null }),
      EPILEPSY,
    )

    expect(written).not.toHaveProperty('verificationStatus')
  })

  it('writes the subject as a Patient reference', () => {
    const current: FhirCondition = {
      ...EPILEPSY,
      subject: {
        reference: 'urn:uuid:4e8ed886-fd5f-40bb-8feb-f339b04d853a',
        display: 'B. Ordóñez',
      },
    }

    const written = conditionResourceFromFields('c1', 'p-42', fieldsOf({}), current)

    expect(written.subject).toEqual({ reference: 'Patient/p-42', display: 'B. Ordóñez' })
  })

  it('keeps unmapped elements of current', () => {
    const current: FhirCondition = {
      ...EPILEPSY,
      evidence: [{ detail: [{ reference: 'Observation/o1' }] }],
      note: [{ text: 'Seen in clinic' }],
    }

    const written = conditionResourceFromFields(
      'c1',
      'p1',
      fieldsOf({ clinicalStatus: 'remission' }),
      current,
    )

    expect(written.category).toEqual(EPILEPSY.category)
    expect(written.encounter).toEqual({ reference: 'Encounter/e1' })
    expect(written.evidence).toEqual(current.evidence)
    expect(written.note).toEqual(current.note)
  })

  it('leaves current unchanged', () => {
    const current = structuredClone(EPILEPSY)

    conditionResourceFromFields(
      'c1',
      'p9',
      fieldsOf({ onset: null, clinicalStatus: null }),
      current,
    )

    expect(current).toEqual(EPILEPSY)
  })
})

describe('patientIdFromReference', () => {
  it.each([
    ['Patient/123', '123'],
    ['Patient/a-b.c', 'a-b.c'],
    ['Patient/123/_history/4', '123'],
    ['http://x/fhir/Patient/abc', 'abc'],
    ['http://x/fhir/Patient/abc/_history/2', 'abc'],
    ['Group/1', null],
    ['urn:uuid:4e8ed886-fd5f-40bb-8feb-f339b04d853a', null],
    ['Patient/', null],
    ['Patient/a/b', null],
    ['SomePatient/1', null],
    [undefined, null],
  ])('reads %s as %s', (reference, id) => {
    expect(patientIdFromReference(reference)).toBe(id)
  })
})

describe.each([
  ['Synthea bundle', loadSyntheaConditions()],
  ['bulk export', loadBulkConditions()],
])('Condition round trip of the %s data', (_source, conditions) => {
  it('finds Conditions to test', () => {
    expect(conditions.length).toBeGreaterThan(0)
  })

  it.each(conditions)('keeps the mapped elements of %s', (_name, resource) => {
    const written = conditionResourceFromFields('c1', 'p1', conditionFieldsFromResource(resource))

    expect(pickMapped(written)).toEqual(pickMapped(resource))
  })

  it.each(conditions)('keeps the other elements of %s given it as current', (_name, resource) => {
    const written = conditionResourceFromFields(
      resource.id ?? '',
      'p1',
      conditionFieldsFromResource(resource),
      resource,
    )

    expect(written).toEqual({
      ...resource,
      subject: { ...resource.subject, reference: 'Patient/p1' },
    })
  })
})
