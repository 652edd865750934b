import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Bundle, Patient as FhirPatient } from '@medplum/fhirtypes'
import { describe, expect, it } from 'vitest'
import type { PatientFields } from '../patients/patient.schemas.ts'
import { patientFieldsFromResource, patientResourceFromFields } from './patient-mapping.ts'

const DATA_DIR = process.env.SAMPLE_DATA_DIR ?? join(import.meta.dirname, '../../../shared/data')
const MAPPED_ELEMENTS = [
  'name',
  'birthDate',
  'gender',
  'identifier',
  'telecom',
  'address',
  'deceasedBoolean',
  'deceasedDateTime',
] as const

function pickMapped(resource: FhirPatient): Partial<FhirPatient> {
  const picked: Partial<FhirPatient> = {}
  for (const key of MAPPED_ELEMENTS) {
    if (resource[key] !== undefined) Object.assign(picked, { [key]: resource[key] })
  }
  return picked
}

function loadSyntheaPatients(): [string, FhirPatient][] {
  const dir = join(DATA_DIR, 'synthea')
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .flatMap((file) => {
      const bundle = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Bundle
      return (bundle.entry ?? [])
        .map((entry) => entry.resource)
        .filter((resource) => resource?.resourceType === 'Patient')
        .map((resource): [string, FhirPatient] => [file, resource])
    })
}

function loadBulkPatients(): [string, FhirPatient][] {
  return readFileSync(join(DATA_DIR, 'bulk-10-patients/Patient.ndjson'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as FhirPatient)
    .map((resource): [string, FhirPatient] => [resource.id ?? '', resource])
}

function roundTrip(resource: FhirPatient, current?: FhirPatient): FhirPatient {
  return patientResourceFromFields('p1', patientFieldsFromResource(resource), current)
}

const FULL_PATIENT: FhirPatient = {
  resourceType: 'Patient',
  id: 'p1',
  name: [
    {
      use: 'official',
      family: 'Ordóñez',
      given: ['Bernardo', 'José', 'María'],
      prefix: ['Dr.', 'Prof.'],
      suffix: ['PhD', 'Jr.'],
      period: { start: '2001-01-01' },
    },
    { use: 'nickname', given: ['Jürgen'] },
    { use: 'usual', text: '王小明', family: '王', given: ['小明'] },
  ],
  birthDate: '1980-05-17',
  gender: 'male',
  identifier: [
    { system: 'urn:oid:2.16.840.1.113883.4.3.25', value: '999-12-3456', use: 'official' },
    { system: 'https://brain-registry.example.org/fhir/sid/patient', value: 'R-1' },
  ],
  telecom: [
    { system: 'phone', value: '+44 20 7946 0958', use: 'mobile', rank: 1 },
    { system: 'email', value: 'b.ordonez@example.org' },
  ],
  address: [
    {
      use: 'home',
      line: ['12 Queen Square', 'Flat 3'],
      city: 'London',
      postalCode: 'WC1N 3BG',
      country: 'GB',
    },
  ],
  deceasedBoolean: false,
}

describe('patientFieldsFromResource', () => {
  it('reads every mapped element', () => {
    expect(patientFieldsFromResource(FULL_PATIENT)).toEqual({
      names: FULL_PATIENT.name,
      birthDate: '1980-05-17',
      gender: 'male',
      identifiers: FULL_PATIENT.identifier,
      telecom: FULL_PATIENT.telecom,
      addresses: FULL_PATIENT.address,
      deceased: { boolean: false },
    })
  })

  it('reads an empty Patient as empty fields', () => {
    expect(patientFieldsFromResource({ resourceType: 'Patient' })).toEqual({
      names: [],
      birthDate: null,
      gender: null,
      identifiers: [],
      telecom: [],
      addresses: [],
      deceased: null,
    })
  })

  it('reads deceasedDateTime', () => {
    const resource: FhirPatient = {
      resourceType: 'Patient',
      deceasedDateTime: '2020-02-03T04:05:06+01:00',
    }

    expect(patientFieldsFromResource(resource).deceased).toEqual({
      dateTime: '2020-02-03T04:05:06+01:00',
    })
  })
})

describe('patientResourceFromFields', () => {
  it('round-trips every mapped element', () => {
    const written = roundTrip(FULL_PATIENT)

    expect(written).toEqual(FULL_PATIENT)
  })

  it.each(['1980', '1980-05', '1980-05-17'])('round-trips birth date %s', (birthDate) => {
    const written = roundTrip({ ...FULL_PATIENT, birthDate })

    expect(written.birthDate).toBe(birthDate)
  })

  it.each(['male', 'female', 'other', 'unknown'] as const)('round-trips gender %s', (gender) => {
    const written = roundTrip({ ...FULL_PATIENT, gender })

    expect(written.gender).toBe(gender)
  })

  it.each([
    ['deceasedBoolean true', { deceasedBoolean: true }],
    ['deceasedBoolean false', { deceasedBoolean: false }],
    ['deceasedDateTime', { deceasedDateTime: '2019-04-02T10:30:00Z' }],
  ])('round-trips %s', (_case, deceased) => {
    const resource: FhirPatient = { resourceType: 'Patient', id: 'p1', ...deceased }

    expect(roundTrip(resource)).toEqual(resource)
  })

  it('sets the id and resourceType', () => {
    const written = patientResourceFromFields('abc', patientFieldsFromResource(FULL_PATIENT))

    expect(written.id).toBe('abc')
    expect(written.resourceType).toBe('Patient')
  })

  it('keeps unmapped elements of current', () => {
    const current: FhirPatient = {
      ...FULL_PATIENT,
      extension: [{ url: 'http://example.org/fhir/birth-place', valueString: 'Sevilla' }],
      maritalStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: 'M' }],
      },
      communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'es' }] } }],
    }
    const fields: PatientFields = { ...patientFieldsFromResource(current), gender: 'other' }

    const written = patientResourceFromFields('p1', fields, current)

    expect(written.extension).toEqual(current.extension)
    expect(written.maritalStatus).toEqual(current.maritalStatus)
    expect(written.communication).toEqual(current.communication)
    expect(written.gender).toBe('other')
  })

  it('leaves current unchanged', () => {
    const current = structuredClone(FULL_PATIENT)
    const fields: PatientFields = {
      ...patientFieldsFromResource(current),
      names: [],
      deceased: null,
    }

    patientResourceFromFields('p1', fields, current)

    expect(current).toEqual(FULL_PATIENT)
  })

  it.each([
    ['name', 'names'],
    ['identifier', 'identifiers'],
    ['telecom', 'telecom'],
    ['address', 'addresses'],
  ] as const)('leaves out %s when its list is empty', (element, field) => {
    const fields: PatientFields = { ...patientFieldsFromResource(FULL_PATIENT), [field]: [] }

    const written = patientResourceFromFields('p1', fields, FULL_PATIENT)

    expect(written).not.toHaveProperty(element)
  })

  it.each([
    ['birthDate', 'birthDate'],
    ['gender', 'gender'],
  ] as const)('leaves out %s when it is null', (element, field) => {
    const fields: PatientFields = { ...patientFieldsFromResource(FULL_PATIENT), [field]: null }

    const written = patientResourceFromFields('p1', fields, FULL_PATIENT)

    expect(written).not.toHaveProperty(element)
  })

  it('replaces deceasedBoolean with deceasedDateTime', () => {
    const fields: PatientFields = {
      ...patientFieldsFromResource(FULL_PATIENT),
      deceased: { dateTime: '2024-01-02' },
    }

    const written = patientResourceFromFields('p1', fields, FULL_PATIENT)

    expect(written.deceasedDateTime).toBe('2024-01-02')
    expect(written).not.toHaveProperty('deceasedBoolean')
  })

  it('replaces deceasedDateTime with deceasedBoolean', () => {
    const current: FhirPatient = { resourceType: 'Patient', deceasedDateTime: '2024-01-02' }

    const written = patientResourceFromFields(
      'p1',
      { ...patientFieldsFromResource(current), deceased: { boolean: true } },
      current,
    )

    expect(written.deceasedBoolean).toBe(true)
    expect(written).not.toHaveProperty('deceasedDateTime')
  })

  it('removes deceased[x] when deceased is null', () => {
    const current: FhirPatient = { resourceType: 'Patient', deceasedDateTime: '2024-01-02' }

    const written = patientResourceFromFields(
      'p1',
      { ...patientFieldsFromResource(current), deceased: null },
      current,
    )

    expect(written).not.toHaveProperty('deceasedDateTime')
    expect(written).not.toHaveProperty('deceasedBoolean')
  })
})

describe.each([
  ['Synthea bundle', loadSyntheaPatients()],
  ['bulk export', loadBulkPatients()],
])('Patient round trip of the %s data', (_source, patients) => {
  it('finds Patients to test', () => {
    expect(patients.length).toBeGreaterThan(0)
  })

  it.each(patients)('keeps the mapped elements of %s', (_name, resource) => {
    const written = patientResourceFromFields('p1', patientFieldsFromResource(resource))

    expect(pickMapped(written)).toEqual(pickMapped(resource))
  })

  it.each(patients)('keeps the whole resource of %s given it as current', (_name, resource) => {
    const written = patientResourceFromFields(
      resource.id ?? '',
      patientFieldsFromResource(resource),
      resource,
    )

    expect(written).toEqual(resource)
  })
})
