import type { Condition as FhirCondition, Patient as FhirPatient } from '@medplum/fhirtypes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FetchFunction } from '../src/fhir/fhir-client.ts'
import type { Condition, ConditionFhirView } from '../src/conditions/condition.schemas.ts'
import type { Patient, PatientFhirView } from '../src/patients/patient.schemas.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'
import {
  conditionInput,
  createSynced,
  fhirIdOf,
  hospitalEdit,
  patchEntity,
  patientInput,
  waitForSettled,
} from './merge-fixtures.ts'

let t: TestRegistry

/**
 * How the registry's requests to HAPI fail while a test sets it: `unreachable` throws as fetch
 * does for a refused connection, `server-error` returns a 500 OperationOutcome without calling HAPI.
 */
let hapiFailure: 'unreachable' | 'server-error' | null = null

const failingFetch: FetchFunction = async (input, init) => {
  if (hapiFailure === 'unreachable') throw new TypeError('fetch failed')
  if (hapiFailure === 'server-error') {
    return new Response(
      JSON.stringify({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'exception', diagnostics: 'Internal error' }],
      }),
      { status: 500, headers: { 'Content-Type': 'application/fhir+json' } },
    )
  }
  return fetch(input, init)
}

beforeAll(async () => {
  t = await startTestRegistry('fhir_view', {}, { fetch: failingFetch })
})

afterAll(async () => {
  hapiFailure = null
  await t.stop()
})

/**
 * Deletes the Patient in HAPI as the hospital and edits the registry row right after, while a lock
 * on the notification table holds HAPI's delivery of the delete back. So the edit always lands
 * before the merge reads the delete, which then opens a (deleted) conflict and keeps the row.
 */
async function deleteInHapiAfterRegistryEdit(synced: Patient): Promise<void> {
  const holder = await t.registry.pool.connect()
  try {
    await holder.query('begin')
    await holder.query(
      `lock table ${t.registry.config.DATABASE_SCHEMA}.fhir_notifications in exclusive mode`,
    )
    await t.hospital.delete('Patient', fhirIdOf(synced))
    await patchEntity(t, 'patient', synced, { gender: 'other' })
  } finally {
    await holder.query('commit')
    holder.release()
  }
}

async function fhirViewOf(id: string, headers?: Record<string, string>): Promise<Response> {
  return t.api('GET', `/patients/${id}/fhir`, undefined, headers)
}

async function codeOf(response: Response): Promise<string> {
  return ((await response.json()) as { code: string }).code
}

describe('GET /patients/{id}/fhir', () => {
  it('returns the synced resource and its mapped fields', async () => {
    const synced = await createSynced(
      t,
      'patient',
      patientInput({ telecom: [{ system: 'phone', value: '555-0101' }] }),
    )
    await waitForSettled(t, 'patient', synced.id)
    const patient = (await (await t.api('GET', `/patients/${synced.id}`)).json()) as Patient

    const response = await fhirViewOf(synced.id)
    expect(response.status).toBe(200)
    const view = (await response.json()) as PatientFhirView

    expect(view.reference).toBe(`Patient/${fhirIdOf(patient)}`)
    expect(view.versionId).toBe(String(patient.sync.fhirVersionId))
    // HAPI appends `#` and the request id to the meta.source a client sends.
    expect(view.source?.split('#')[0]).toBe(t.registry.config.FHIR_SOURCE_URI)
    expect(view.lastUpdated).not.toBeNull()
    expect(view.resource.resourceType).toBe('Patient')
    expect(view.resource.id).toBe(fhirIdOf(patient))
    expect(view.mapped.names).toEqual(patient.names)
    expect(view.mapped.birthDate).toBe(patient.birthDate)
    expect(view.mapped.gender).toBe(patient.gender)
    expect(view.mapped.telecom).toEqual(patient.telecom)
    expect(view.mapped.identifiers).toEqual(patient.identifiers)
    expect(view.mapped.deceased).toBeNull()
  })

  it('shows a hospital edit made in HAPI', async () => {
    const synced = await createSynced(t, 'patient', patientInput())
    await waitForSettled(t, 'patient', synced.id)
    const edited = await hospitalEdit(t, 'patient', fhirIdOf(synced), (resource: FhirPatient) => {
      resource.telecom = [{ system: 'email', value: 'maja@hospital.example.org' }]
    })

    const response = await fhirViewOf(synced.id)
    expect(response.status).toBe(200)
    const view = (await response.json()) as PatientFhirView

    expect(view.versionId).toBe(edited.meta?.versionId)
    expect(view.source?.split('#')[0]).toBe('https://hospital.example.org/ehr')
    expect(view.mapped.telecom).toEqual([{ system: 'email', value: 'maja@hospital.example.org' }])
  })

  it('rejects an unknown patient with NOT_FOUND', async () => {
    const response = await fhirViewOf(crypto.randomUUID())
    expect(response.status).toBe(404)
    expect(await codeOf(response)).toBe('NOT_FOUND')
  })

  it('rejects a patient gone in HAPI with FHIR_RESOURCE_GONE', async () => {
    // A registry edit after the hospital's delete keeps the row in a (deleted) conflict, while
    // HAPI returns 410 for the Patient.
    const synced = await createSynced(t, 'patient', patientInput())
    await waitForSettled(t, 'patient', synced.id)
    await deleteInHapiAfterRegistryEdit(synced)
    await waitForSettled(t, 'patient', synced.id)

    const response = await fhirViewOf(synced.id)
    expect(response.status).toBe(404)
    expect(await codeOf(response)).toBe('FHIR_RESOURCE_GONE')
  })

  it('returns 502 FHIR_UNAVAILABLE when HAPI fails', async () => {
    const synced = await createSynced(t, 'patient', patientInput())
    await waitForSettled(t, 'patient', synced.id)

    hapiFailure = 'server-error'
    const failed = await fhirViewOf(synced.id).finally(() => (hapiFailure = null))
    expect(failed.status).toBe(502)
    expect(await codeOf(failed)).toBe('FHIR_UNAVAILABLE')

    hapiFailure = 'unreachable'
    const unreachable = await fhirViewOf(synced.id).finally(() => (hapiFailure = null))
    expect(unreachable.status).toBe(502)
    expect(await codeOf(unreachable)).toBe('FHIR_UNAVAILABLE')
  })

  it('rejects a patient never written to FHIR with NOT_IN_FHIR', async () => {
    // While HAPI is unreachable the push keeps failing, so the row has no FHIR version yet.
    hapiFailure = 'unreachable'
    try {
      const created = await t.api('POST', '/patients', patientInput())
      expect(created.status).toBe(201)
      const patient = (await created.json()) as Patient
      await waitFor('a failed push try', async () => {
        const current = (await (await t.api('GET', `/patients/${patient.id}`)).json()) as Patient
        return current.sync.error === null ? undefined : current
      })

      const response = await fhirViewOf(patient.id)
      expect(response.status).toBe(404)
      expect(await codeOf(response)).toBe('NOT_IN_FHIR')
    } finally {
      hapiFailure = null
    }
  })

  it('rejects an auditor-only caller with 403', async () => {
    const synced = await createSynced(t, 'patient', patientInput())
    const auditor = await t.authorizationFor(['auditor'])
    const steward = await t.authorizationFor(['steward'])

    const forbidden = await fhirViewOf(synced.id, { Authorization: auditor })
    expect(forbidden.status).toBe(403)
    expect(await codeOf(forbidden)).toBe('FORBIDDEN')
    expect((await fhirViewOf(synced.id, { Authorization: steward })).status).toBe(200)
  })
})

describe('GET /conditions/{id}/fhir', () => {
  it('returns the synced resource and its mapped fields', async () => {
    const patient = await createSynced(t, 'patient', patientInput())
    const synced = await createSynced(t, 'condition', conditionInput(patient.id))
    await waitForSettled(t, 'condition', synced.id)
    const condition = (await (await t.api('GET', `/conditions/${synced.id}`)).json()) as Condition

    const response = await t.api('GET', `/conditions/${synced.id}/fhir`)
    expect(response.status).toBe(200)
    const view = (await response.json()) as ConditionFhirView

    expect(view.reference).toBe(`Condition/${fhirIdOf(condition)}`)
    expect(view.versionId).toBe(String(condition.sync.fhirVersionId))
    expect(view.source?.split('#')[0]).toBe(t.registry.config.FHIR_SOURCE_URI)
    expect(view.resource.resourceType).toBe('Condition')
    expect(view.mapped.code).toEqual(condition.code)
    expect(view.mapped.clinicalStatus).toBe(condition.clinicalStatus)
  })

  it('shows a hospital edit made in HAPI', async () => {
    const patient = await createSynced(t, 'patient', patientInput())
    const synced = await createSynced(t, 'condition', conditionInput(patient.id))
    await waitForSettled(t, 'condition', synced.id)
    const edited = await hospitalEdit(
      t,
      'condition',
      fhirIdOf(synced),
      (resource: FhirCondition) => {
        resource.recordedDate = '2024-02-03'
      },
    )

    const response = await t.api('GET', `/conditions/${synced.id}/fhir`)
    expect(response.status).toBe(200)
    const view = (await response.json()) as ConditionFhirView

    expect(view.versionId).toBe(edited.meta?.versionId)
    expect(view.source?.split('#')[0]).toBe('https://hospital.example.org/ehr')
    expect(view.mapped.recordedDate).toBe('2024-02-03')
  })

  it('rejects an unknown condition with NOT_FOUND', async () => {
    const response = await t.api('GET', `/conditions/${crypto.randomUUID()}/fhir`)
    expect(response.status).toBe(404)
    expect(await codeOf(response)).toBe('NOT_FOUND')
  })

  it('returns 502 FHIR_UNAVAILABLE when HAPI fails', async () => {
    const patient = await createSynced(t, 'patient', patientInput())
    const synced = await createSynced(t, 'condition', conditionInput(patient.id))

    hapiFailure = 'unreachable'
    const response = await t
      .api('GET', `/conditions/${synced.id}/fhir`)
      .finally(() => (hapiFailure = null))
    expect(response.status).toBe(502)
    expect(await codeOf(response)).toBe('FHIR_UNAVAILABLE')
  })

  it('rejects an auditor-only caller with 403', async () => {
    const patient = await createSynced(t, 'patient', patientInput())
    const synced = await createSynced(t, 'condition', conditionInput(patient.id))
    const auditor = await t.authorizationFor(['auditor'])

    const response = await t.api('GET', `/conditions/${synced.id}/fhir`, undefined, {
      Authorization: auditor,
    })
    expect(response.status).toBe(403)
    expect(await codeOf(response)).toBe('FORBIDDEN')
  })
})
