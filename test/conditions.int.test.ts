import type { Condition as FhirCondition, Patient as FhirPatient } from '@medplum/fhirtypes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Condition } from '../src/conditions/condition.schemas.ts'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { PatientRepository } from '../src/patients/patient.repository.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'

const SNOMED_CT = 'http://snomed.info/sct'
const ICD_10_CM = 'http://hl7.org/fhir/sid/icd-10-cm'
const CLINICAL_STATUS = 'http://terminology.hl7.org/CodeSystem/condition-clinical'
const VERIFICATION_STATUS = 'http://terminology.hl7.org/CodeSystem/condition-ver-status'

const EPILEPSY = { system: SNOMED_CT, code: '84757009', display: 'Epilepsy' }
const HYPERTENSION = { system: SNOMED_CT, code: '38341003', display: 'Hypertensive disorder' }

interface Problem {
  code: string
  errors?: { path: string; message: string }[]
}

let t: TestRegistry

beforeAll(async () => {
  t = await startTestRegistry('conditions')
})

afterAll(async () => {
  await t.stop()
})

async function createPatient(family: string): Promise<Patient> {
  const response = await t.api('POST', '/patients', { names: [{ family }], gender: 'female' })
  expect(response.status).toBe(201)
  return (await response.json()) as Patient
}

async function createCondition(body: Record<string, unknown>): Promise<Condition> {
  const response = await t.api('POST', '/conditions', body)
  expect(response.status).toBe(201)
  return (await response.json()) as Condition
}

async function getCondition(id: string): Promise<Condition> {
  const response = await t.api('GET', `/conditions/${id}`)
  expect(response.status).toBe(200)
  return (await response.json()) as Condition
}

/** Waits until the registry row records the given FHIR version or a later one. */
async function waitForFhirVersion(id: string, atLeast: number): Promise<Condition> {
  return waitFor(`condition ${id} at FHIR version ${atLeast}`, async () => {
    const condition = await getCondition(id)
    return (condition.sync.fhirVersionId ?? 0) >= atLeast && condition.sync.state === 'synced'
      ? condition
      : undefined
  })
}

async function readFhirCondition(fhirId: string): Promise<FhirCondition> {
  const stored = await t.hospital.read<FhirCondition>('Condition', fhirId)
  if (!stored) throw new Error(`Condition/${fhirId} is missing in HAPI`)
  return stored
}

/** Creates a patient and one condition of it, and waits until both are in HAPI. */
async function createSyncedCondition(family: string): Promise<Condition> {
  const patient = await createPatient(family)
  const condition = await createCondition({
    patientId: patient.id,
    code: { coding: [EPILEPSY] },
    clinicalStatus: 'active',
    verificationStatus: 'confirmed',
    onset: { dateTime: '2015-01' },
  })
  return waitForFhirVersion(condition.id, 1)
}

async function listConditions(query: string): Promise<Condition[]> {
  const response = await t.api('GET', `/conditions?${query}`)
  expect(response.status).toBe(200)
  return ((await response.json()) as { items: Condition[] }).items
}

describe('condition push', () => {
  it('creates the Condition in HAPI with its fields', async () => {
    const patient = await createPatient('Okafor')
    const created = await createCondition({
      patientId: patient.id,
      code: { coding: [EPILEPSY], text: 'Epilepsy' },
      clinicalStatus: 'active',
      verificationStatus: 'confirmed',
      onset: { dateTime: '2015-01' },
      recordedDate: '2015-02-03',
    })

    const synced = await waitForFhirVersion(created.id, 1)
    const stored = await readFhirCondition(synced.sync.fhirId ?? '')

    expect(synced.sync.fhirVersionId).toBe(1)
    expect(stored.meta?.versionId).toBe('1')
    expect(stored.subject.reference).toBe(`Patient/${patient.sync.fhirId ?? ''}`)
    expect(stored.code).toEqual({ coding: [EPILEPSY], text: 'Epilepsy' })
    expect(stored.clinicalStatus?.coding).toEqual([{ system: CLINICAL_STATUS, code: 'active' }])
    expect(stored.verificationStatus?.coding).toEqual([
      { system: VERIFICATION_STATUS, code: 'confirmed' },
    ])
    expect(stored.onsetDateTime).toBe('2015-01')
    expect(stored.recordedDate).toBe('2015-02-03')
    expect(stored.abatementDateTime).toBeUndefined()
    expect(synced.onset).toEqual({ dateTime: '2015-01' })
  })

  it('pushes a patient not yet in HAPI first', async () => {
    // The row is inserted without its push job, so only the condition's push can write the
    // patient to HAPI.
    const patientId = crypto.randomUUID()
    await new PatientRepository().insert(t.registry.db, {
      id: patientId,
      source: 'registry',
      fields: {
        names: [{ family: 'Unpushed' }],
        birthDate: '1961',
        gender: 'male',
        identifiers: [{ use: 'official', system: t.identifierSystem, value: patientId }],
        telecom: [],
        addresses: [],
        deceased: null,
      },
      updatedBy: 'test',
      updatedAt: new Date(),
      fhirId: patientId,
    })
    expect(await t.hospital.read<FhirPatient>('Patient', patientId)).toBeNull()

    const created = await createCondition({ patientId, code: { coding: [EPILEPSY] } })
    const synced = await waitForFhirVersion(created.id, 1)
    const storedCondition = await readFhirCondition(synced.sync.fhirId ?? '')
    const storedPatient = await t.hospital.read<FhirPatient>('Patient', patientId)
    const patientResponse = await t.api('GET', `/patients/${patientId}`)
    const patient = (await patientResponse.json()) as Patient

    expect(storedCondition.subject.reference).toBe(`Patient/${patientId}`)
    expect(storedPatient?.name).toEqual([{ family: 'Unpushed' }])
    expect(storedPatient?.birthDate).toBe('1961')
    expect(patient.sync.fhirVersionId).toBe(1)
  })

  it('pushes a PATCH as version 2', async () => {
    const created = await createSyncedCondition('Lindqvist')

    const response = await t.api(
      'PATCH',
      `/conditions/${created.id}`,
      { clinicalStatus: 'resolved', abatement: { dateTime: '2020-06' } },
      { 'If-Match': '"1"' },
    )
    expect(response.status).toBe(200)
    const synced = await waitForFhirVersion(created.id, 2)
    const stored = await readFhirCondition(created.sync.fhirId ?? '')

    expect(synced.version).toBe(2)
    expect(synced.onset).toEqual({ dateTime: '2015-01' })
    expect(synced.verificationStatus).toBe('confirmed')
    expect(stored.meta?.versionId).toBe('2')
    expect(stored.clinicalStatus?.coding).toEqual([{ system: CLINICAL_STATUS, code: 'resolved' }])
    expect(stored.abatementDateTime).toBe('2020-06')
    expect(stored.onsetDateTime).toBe('2015-01')
    expect(stored.verificationStatus?.coding).toEqual([
      { system: VERIFICATION_STATUS, code: 'confirmed' },
    ])
    expect(stored.code?.coding).toEqual([EPILEPSY])
  })
})

describe('condition validation', () => {
  let patient: Patient

  beforeAll(async () => {
    patient = await createPatient('Validation')
  })

  it('rejects a SNOMED CT code with a bad check digit', async () => {
    const response = await t.api('POST', '/conditions', {
      patientId: patient.id,
      code: { coding: [{ system: SNOMED_CT, code: '84757008' }] },
    })
    const problem = (await response.json()) as Problem

    expect(response.status).toBe(400)
    expect(response.headers.get('content-type')).toContain('application/problem+json')
    expect(problem.code).toBe('VALIDATION_FAILED')
    expect(problem.errors?.map((error) => error.path)).toEqual(['code.coding.0.code'])
  })

  it.each([
    [
      'an active entry made in error',
      { clinicalStatus: 'active', verificationStatus: 'entered-in-error' },
    ],
    [
      'an active condition with an abatement',
      { clinicalStatus: 'active', abatement: { dateTime: '2020' } },
    ],
  ])('rejects %s', async (_case, statuses) => {
    const response = await t.api('POST', '/conditions', {
      patientId: patient.id,
      code: { coding: [EPILEPSY] },
      ...statuses,
    })
    const problem = (await response.json()) as Problem

    expect(response.status).toBe(400)
    expect(problem.code).toBe('VALIDATION_FAILED')
    expect(problem.errors?.map((error) => error.path)).toEqual(['clinicalStatus'])
  })

  it('accepts a resolved condition with an abatement', async () => {
    const response = await t.api('POST', '/conditions', {
      patientId: patient.id,
      code: { coding: [EPILEPSY] },
      clinicalStatus: 'resolved',
      abatement: { dateTime: '2020' },
    })
    expect(response.status).toBe(201)
  })

  it('rejects a code without SNOMED CT or ICD-10-CM', async () => {
    const response = await t.api('POST', '/conditions', {
      patientId: patient.id,
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }], text: 'Heart rate' },
    })
    const problem = (await response.json()) as Problem

    expect(response.status).toBe(400)
    expect(problem.code).toBe('VALIDATION_FAILED')
    expect(problem.errors?.map((error) => error.path)).toEqual(['code.coding'])
  })

  it('rejects a bad code in a PATCH', async () => {
    const created = await createCondition({ patientId: patient.id, code: { coding: [EPILEPSY] } })

    const response = await t.api(
      'PATCH',
      `/conditions/${created.id}`,
      { code: { coding: [{ system: ICD_10_CM, code: 'G40909' }] } },
      { 'If-Match': '"1"' },
    )
    const problem = (await response.json()) as Problem
    const after = await getCondition(created.id)

    expect(response.status).toBe(400)
    expect(problem.code).toBe('VALIDATION_FAILED')
    expect(problem.errors?.map((error) => error.path)).toEqual(['code.coding.0.code'])
    expect(after.version).toBe(1)
    expect(after.code.coding).toEqual([EPILEPSY])
  })

  it('rejects an unknown patientId with 400', async () => {
    const response = await t.api('POST', '/conditions', {
      patientId: crypto.randomUUID(),
      code: { coding: [EPILEPSY] },
    })
    const problem = (await response.json()) as Problem

    expect(response.status).toBe(400)
    expect(problem.code).toBe('VALIDATION_FAILED')
    expect(problem.errors?.map((error) => error.path)).toEqual(['patientId'])
  })

  it('marks SNOMED CT epilepsy as neurological', async () => {
    const created = await createCondition({ patientId: patient.id, code: { coding: [EPILEPSY] } })
    expect(created.isNeurological).toBe(true)
  })

  it('marks SNOMED CT hypertension as not neurological', async () => {
    const created = await createCondition({
      patientId: patient.id,
      code: { coding: [HYPERTENSION] },
    })
    expect(created.isNeurological).toBe(false)
  })

  it('accepts ICD-10-CM G35 as neurological', async () => {
    const created = await createCondition({
      patientId: patient.id,
      code: { coding: [{ system: ICD_10_CM, code: 'G35', display: 'Multiple sclerosis' }] },
    })
    const stored = await getCondition(created.id)

    expect(created.isNeurological).toBe(true)
    expect(stored.code.coding).toEqual([
      { system: ICD_10_CM, code: 'G35', display: 'Multiple sclerosis' },
    ])
  })
})

describe('condition list', () => {
  it('filters by patient and neurological flag', async () => {
    const patient = await createPatient('Filter')
    const other = await createPatient('Elsewhere')
    const epilepsy = await createCondition({ patientId: patient.id, code: { coding: [EPILEPSY] } })
    const hypertension = await createCondition({
      patientId: patient.id,
      code: { coding: [HYPERTENSION] },
    })
    await createCondition({ patientId: other.id, code: { coding: [EPILEPSY] } })

    const neurological = await listConditions(`patientId=${patient.id}&neurological=true`)
    const others = await listConditions(`patientId=${patient.id}&neurological=false`)
    const all = await listConditions(`patientId=${patient.id}`)

    expect(neurological.map((condition) => condition.id)).toEqual([epilepsy.id])
    expect(others.map((condition) => condition.id)).toEqual([hypertension.id])
    expect(all.map((condition) => condition.id).sort()).toEqual(
      [epilepsy.id, hypertension.id].sort(),
    )
  })
})

describe('FHIR-side condition changes', () => {
  it('merges a HAPI-side edit through the Subscription', async () => {
    const created = await createSyncedCondition('Haddad')
    const current = await readFhirCondition(created.sync.fhirId ?? '')

    await t.hospital.update<FhirCondition>(
      {
        ...current,
        clinicalStatus: { coding: [{ system: CLINICAL_STATUS, code: 'resolved' }] },
        abatementDateTime: '2021-03-04',
      },
      { ifMatchVersion: 1 },
    )

    const merged = await waitFor('the HAPI edit in the registry', async () => {
      const condition = await getCondition(created.id)
      return condition.abatement !== null ? condition : undefined
    })
    expect(merged.abatement).toEqual({ dateTime: '2021-03-04' })
    expect(merged.clinicalStatus).toBe('resolved')
    expect(merged.onset).toEqual({ dateTime: '2015-01' })
    expect(merged.updatedBy).toBe('fhir-merge')
    expect(merged.sync.fhirVersionId).toBe(2)
    expect(merged.version).toBe(2)
  })

  it('soft-deletes after a HAPI-side delete', async () => {
    const created = await createSyncedCondition('Moreau')

    await t.hospital.delete('Condition', created.sync.fhirId ?? '')

    const status = await waitFor('the condition gone from the registry', async () => {
      const response = await t.api('GET', `/conditions/${created.id}`)
      return response.status === 404 ? response.status : undefined
    })
    const listed = await listConditions(`patientId=${created.patientId}`)

    expect(status).toBe(404)
    expect(listed).toEqual([])
  })

  it('keeps and flags codes outside the value sets', async () => {
    const patient = await createPatient('Ferreira')
    await waitFor('the patient in HAPI', async () => {
      const response = await t.api('GET', `/patients/${patient.id}`)
      const current = (await response.json()) as Patient
      return current.sync.fhirVersionId === null ? undefined : current
    })
    const unlisted = { system: ICD_10_CM, code: 'G40.99' }

    const resource: FhirCondition = {
      resourceType: 'Condition',
      subject: { reference: `Patient/${patient.sync.fhirId ?? ''}` },
      code: { coding: [EPILEPSY, unlisted] },
      clinicalStatus: { coding: [{ system: CLINICAL_STATUS, code: 'unknown' }] },
    }

    const created = await t.hospital.post<FhirCondition>('Condition', resource)
    const stored = await waitFor('the hospital condition in the registry', async () => {
      const conditions = await listConditions(`patientId=${patient.id}`)
      return conditions.find((condition) => condition.sync.fhirId === created.id)
    })

    expect(stored.code.coding).toEqual([EPILEPSY, unlisted])
    expect(stored.clinicalStatus).toBe('unknown')
    expect(stored.isNeurological).toBe(true)
    expect(stored.codeFlags.map((flag) => flag.path)).toEqual([
      'clinicalStatus',
      'code.coding.1.code',
    ])
  })
})
