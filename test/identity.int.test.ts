import type { Patient as FhirPatient } from '@medplum/fhirtypes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Condition } from '../src/conditions/condition.schemas.ts'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'
import {
  HOSPITAL_MRN_SYSTEM,
  MULTIPLE_SCLEROSIS,
  MULTIPLE_SCLEROSIS_ICD,
  createSynced,
  createdIds,
  hospitalCondition,
  hospitalPatient,
  mergeAuditOf,
  patientInput,
  patientWithConditionsBundle,
  readFhir,
  waitForSettled,
} from './merge-fixtures.ts'

let t: TestRegistry

beforeAll(async () => {
  t = await startTestRegistry('identity')
})

afterAll(async () => {
  await t.stop()
})

async function listPatients(query: string): Promise<Patient[]> {
  const response = await t.api('GET', `/patients?${query}`)
  expect(response.status).toBe(200)
  return ((await response.json()) as { items: Patient[] }).items
}

async function listConditions(patientId: string): Promise<Condition[]> {
  const response = await t.api('GET', `/conditions?patientId=${patientId}`)
  expect(response.status).toBe(200)
  return ((await response.json()) as { items: Condition[] }).items
}

/** Waits until the registry enrolled the FHIR Patient and returns the registry patient. */
async function waitForEnrolment(fhirId: string): Promise<Patient> {
  return waitFor(`Patient/${fhirId} enrolled`, async () => {
    const [patient] = await listPatients(`fhirId=${fhirId}`)
    return patient
  })
}

/** Waits until HAPI's notifications of the resource arrived and were merged; returns outcomes. */
async function waitForOutcomes(resourceType: string, fhirId: string): Promise<string[]> {
  return waitFor(`${resourceType}/${fhirId} merged`, async () => {
    const rows = await t.registry.db
      .selectFrom('fhir_notifications')
      .select('outcome')
      .where('resource_type', '=', resourceType)
      .where('resource_id', '=', fhirId)
      .execute()
    const outcomes = rows.map((row) => row.outcome)
    return outcomes.length > 0 && outcomes.every((outcome) => outcome !== null)
      ? outcomes
      : undefined
  })
}

/** Creates the resources of a transaction Bundle in HAPI as the hospital. */
async function hospitalTransaction(
  patient: FhirPatient,
  codings: readonly (typeof MULTIPLE_SCLEROSIS)[],
): Promise<{ patientId: string; conditionIds: string[] }> {
  const response = await t.hospital.transaction(patientWithConditionsBundle(patient, codings))
  const ids = createdIds(response)
  expect(ids.Patient).toHaveLength(1)
  expect(ids.Condition).toHaveLength(codings.length)
  return { patientId: ids.Patient[0] ?? '', conditionIds: ids.Condition }
}

describe('enrolment', () => {
  it('enrols an external neurology patient', async () => {
    const hospital = hospitalPatient('MRN-20001')
    const mrn = hospital.identifier?.[0]
    const { patientId, conditionIds } = await hospitalTransaction(hospital, [MULTIPLE_SCLEROSIS])

    const enrolled = await waitForEnrolment(patientId)
    await waitForSettled(t, 'patient', enrolled.id)
    const patient = (await listPatients(`fhirId=${patientId}`))[0]
    const fhir = await readFhir(t, 'patient', patientId)
    const own = { use: 'secondary', system: t.identifierSystem, value: enrolled.id }
    const conditions = await listConditions(enrolled.id)
    const creates = (await mergeAuditOf(t, 'patient', enrolled.id)).filter(
      (row) => row.action === 'create',
    )

    expect(patient?.source).toBe('external')
    expect(patient?.identifiers).toEqual([mrn, own])
    expect(patient?.names).toEqual(hospital.name)
    expect(patient?.sync.state).toBe('synced')
    expect(fhir.identifier).toEqual([mrn, own])
    expect(conditions.map((condition) => condition.sync.fhirId)).toEqual(conditionIds)
    expect(conditions[0]?.source).toBe('external')
    expect(conditions[0]?.isNeurological).toBe(true)
    expect(creates).toHaveLength(1)
    expect(creates[0]?.actor).toBe('fhir-merge')
  })

  it('enrols a patient that carries the registry identifier', async () => {
    const own = { system: t.identifierSystem, value: crypto.randomUUID() }
    const { patientId } = await hospitalTransaction(
      hospitalPatient('MRN-20002', {
        identifier: [{ use: 'usual', system: HOSPITAL_MRN_SYSTEM, value: 'MRN-20002' }, own],
      }),
      [],
    )

    const enrolled = await waitForEnrolment(patientId)
    await waitForSettled(t, 'patient', enrolled.id)
    const fhir = await readFhir(t, 'patient', patientId)

    expect(enrolled.source).toBe('external')
    expect(enrolled.identifiers).toContainEqual(own)
    expect(enrolled.sync.state).toBe('synced')
    expect(fhir.meta?.versionId).toBe('1')
  })

  it('ignores a patient with no neurological condition', async () => {
    const { patientId } = await hospitalTransaction(hospitalPatient('MRN-20003'), [])

    const outcomes = await waitForOutcomes('Patient', patientId)

    expect(outcomes).toEqual(['not-enrolled'])
    expect(await listPatients(`fhirId=${patientId}`)).toHaveLength(0)
  })

  it('pulls in the patient of a later neurological condition', async () => {
    const hospital = hospitalPatient('MRN-20004')
    const { patientId } = await hospitalTransaction(hospital, [])
    expect(await waitForOutcomes('Patient', patientId)).toEqual(['not-enrolled'])

    const condition = await t.hospital.transaction({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: hospitalCondition(`Patient/${patientId}`, MULTIPLE_SCLEROSIS_ICD),
          request: { method: 'POST', url: 'Condition' },
        },
      ],
    })
    const [conditionId] = createdIds(condition).Condition
    const enrolled = await waitForEnrolment(patientId)
    await waitForSettled(t, 'patient', enrolled.id)
    const fhir = await readFhir(t, 'patient', patientId)
    const conditions = await listConditions(enrolled.id)

    expect(enrolled.source).toBe('external')
    expect(conditions.map((row) => row.sync.fhirId)).toEqual([conditionId])
    expect(conditions[0]?.code).toEqual({ coding: [MULTIPLE_SCLEROSIS_ICD] })
    expect(fhir.identifier).toEqual([
      hospital.identifier?.[0],
      { use: 'secondary', system: t.identifierSystem, value: enrolled.id },
    ])
  })
})

describe('identity matching', () => {
  it('keeps a namesake apart from the registry patient', async () => {
    const family = `Namesake${Date.now().toString(36)}`
    const names = [{ use: 'official' as const, family, given: ['Ada'] }]
    const registered = await createSynced(
      t,
      'patient',
      patientInput({ names, birthDate: '1981-03-04', gender: 'female' }),
    )
    const { patientId } = await hospitalTransaction(
      hospitalPatient('MRN-20005', { name: names, birthDate: '1981-03-04', gender: 'female' }),
      [MULTIPLE_SCLEROSIS],
    )

    const namesake = await waitForEnrolment(patientId)
    await waitForSettled(t, 'patient', namesake.id)
    const both = await listPatients(`name=${family}`)
    const registeredNow = (await listPatients(`fhirId=${registered.id}`))[0]
    const registeredInFhir = await readFhir(t, 'patient', registered.id)
    const namesakeInFhir = await readFhir(t, 'patient', patientId)

    expect(both.map((patient) => patient.id).sort()).toEqual([registered.id, namesake.id].sort())
    expect(namesake.id).not.toBe(registered.id)
    expect(registeredNow?.version).toBe(registered.version)
    expect(registeredNow?.identifiers).toEqual(registered.identifiers)
    expect(registeredInFhir.meta?.versionId).toBe(String(registered.sync.fhirVersionId))
    expect(namesakeInFhir.identifier).toContainEqual({
      use: 'secondary',
      system: t.identifierSystem,
      value: namesake.id,
    })
    expect(await listConditions(registered.id)).toHaveLength(0)
  })

  it('rejects a taken registry identifier', async () => {
    const registered = await createSynced(t, 'patient', patientInput())
    const takenIdentifier = { system: t.identifierSystem, value: registered.id }
    const { patientId, conditionIds } = await hospitalTransaction(
      hospitalPatient('MRN-20006', {
        identifier: [
          { use: 'usual', system: HOSPITAL_MRN_SYSTEM, value: 'MRN-20006' },
          takenIdentifier,
        ],
      }),
      [MULTIPLE_SCLEROSIS],
    )

    const patientOutcomes = await waitForOutcomes('Patient', patientId)
    const conditionOutcomes = await waitForOutcomes('Condition', conditionIds[0] ?? '')
    const holders = await listPatients(
      `identifier=${takenIdentifier.system}|${takenIdentifier.value}`,
    )

    expect(patientOutcomes).toEqual(['identifier-taken'])
    expect(conditionOutcomes).toEqual(['identifier-taken'])
    expect(await listPatients(`fhirId=${patientId}`)).toHaveLength(0)
    expect(holders.map((patient) => patient.id)).toEqual([registered.id])
    expect(await listConditions(registered.id)).toHaveLength(0)
  })
})
