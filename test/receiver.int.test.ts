import type { Bundle, Patient as FhirPatient } from '@medplum/fhirtypes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'

const FHIR_JSON = 'application/fhir+json'

interface OperationOutcome {
  resourceType: string
  issue: { severity: string; code: string; details?: { coding?: { code: string }[] } }[]
}

/** Reads the registry's error code out of the OperationOutcome that the receiver returns. */
async function errorCodeOf(response: Response): Promise<string | undefined> {
  const outcome = (await response.json()) as OperationOutcome
  expect(response.headers.get('content-type')).toContain('application/fhir+json')
  expect(outcome.resourceType).toBe('OperationOutcome')
  expect(outcome.issue[0]?.severity).toBe('error')
  return outcome.issue[0]?.details?.coding?.[0]?.code
}

interface NotificationRow {
  id: string
  method: string
  resource_type: string | null
  version_id: number | null
  outcome: string | null
}

let t: TestRegistry
let secret: string

beforeAll(async () => {
  t = await startTestRegistry('receiver')
  secret = t.registry.config.SUBSCRIPTION_SECRET
})

afterAll(async () => {
  await t.stop()
})

/** Sends a request to the rest-hook endpoint as HAPI would, with `body` unchanged. */
async function deliver(
  method: 'PUT' | 'DELETE' | 'POST',
  path: string,
  body?: string,
  headers: Record<string, string> = { Authorization: `Bearer ${secret}` },
): Promise<Response> {
  return fetch(`${t.url}/fhir-hook${path}`, {
    method,
    headers: { 'Content-Type': `${FHIR_JSON}; charset=utf-8`, ...headers },
    body,
  })
}

function uniqueId(label: string): string {
  return `${label}-${crypto.randomUUID()}`
}

function patientBody(id: string): string {
  return JSON.stringify({ resourceType: 'Patient', id, gender: 'female' })
}

async function notificationsOf(resourceId: string, afterId = '0'): Promise<NotificationRow[]> {
  return t.registry.db
    .selectFrom('fhir_notifications')
    .select(['id', 'method', 'resource_type', 'version_id', 'outcome'])
    .where('resource_id', '=', resourceId)
    .where('id', '>', afterId)
    .orderBy('id')
    .execute()
}

async function lastNotificationId(): Promise<string> {
  const row = await t.registry.db
    .selectFrom('fhir_notifications')
    .select((eb) => eb.fn.max('id').as('id'))
    .executeTakeFirst()
  return row?.id ?? '0'
}

/** Waits until `count` notifications of the resource after `afterId` have an outcome. */
async function waitForProcessed(
  resourceId: string,
  count: number,
  afterId = '0',
): Promise<NotificationRow[]> {
  return waitFor(`${count} processed notifications of ${resourceId}`, async () => {
    const rows = await notificationsOf(resourceId, afterId)
    return rows.length >= count && rows.every((row) => row.outcome !== null) ? rows : undefined
  })
}

async function getPatient(id: string): Promise<Patient> {
  const response = await t.api('GET', `/patients/${id}`)
  expect(response.status).toBe(200)
  return (await response.json()) as Patient
}

/** Creates a registry patient and waits until HAPI has it and its own echo is processed. */
async function createSyncedPatient(family: string): Promise<Patient> {
  const response = await t.api('POST', '/patients', { names: [{ family }], gender: 'female' })
  expect(response.status).toBe(201)
  const created = (await response.json()) as Patient
  await waitForProcessed(created.id, 1)
  return waitFor(`patient ${created.id} synced`, async () => {
    const patient = await getPatient(created.id)
    return patient.sync.state === 'synced' && patient.sync.fhirVersionId === 1 ? patient : undefined
  })
}

/** Writes a telecom as the hospital and waits until the registry has merged that version. */
async function editAsHospital(id: string, phone: string): Promise<Patient> {
  const current = await t.hospital.read<FhirPatient>('Patient', id)
  if (!current) throw new Error(`Patient/${id} is missing in HAPI`)
  const stored = await t.hospital.update<FhirPatient>({
    ...current,
    telecom: [{ system: 'phone', value: phone }],
  })
  const versionId = Number(stored.meta?.versionId)
  return waitFor(`patient ${id} at FHIR version ${versionId}`, async () => {
    const patient = await getPatient(id)
    return patient.sync.fhirVersionId === versionId ? patient : undefined
  })
}

async function historyVersion(id: string, versionId: number): Promise<FhirPatient> {
  const response = await fetch(`${t.hospital.baseUrl}/Patient/${id}/_history/${versionId}`, {
    headers: { Accept: FHIR_JSON },
  })
  expect(response.status).toBe(200)
  return (await response.json()) as FhirPatient
}

describe('receiver authentication', () => {
  const routes = [
    { method: 'PUT', path: (id: string) => `/Patient/${id}`, body: patientBody },
    { method: 'DELETE', path: (id: string) => `/Patient/${id}`, body: () => undefined },
    {
      method: 'POST',
      path: () => '',
      body: (id: string) =>
        JSON.stringify({
          resourceType: 'Bundle',
          type: 'history',
          entry: [
            {
              resource: JSON.parse(patientBody(id)) as unknown,
              request: { method: 'PUT', url: `Patient/${id}` },
            },
          ],
        }),
    },
  ] as const
  const credentials = [
    { name: 'no Authorization', headers: () => ({}) },
    { name: 'a wrong secret', headers: () => ({ Authorization: `Bearer ${secret}x` }) },
    { name: 'another scheme', headers: () => ({ Authorization: `Basic ${secret}` }) },
  ]
  const cases = routes.flatMap((route) =>
    credentials.map((credential) => ({ ...route, credential, name: credential.name })),
  )

  it.each(cases)('rejects $method with $name', async ({ method, path, body, credential }) => {
    const id = uniqueId('unauthorized')

    const response = await deliver(method, path(id), body(id), credential.headers())

    expect(response.status).toBe(401)
    expect(await errorCodeOf(response)).toBe('UNAUTHORIZED')
    expect(await notificationsOf(id)).toEqual([])
  })
})

describe('receiver input', () => {
  it('rejects a body whose id differs from the path', async () => {
    const id = uniqueId('path')
    const other = uniqueId('body')

    const response = await deliver('PUT', `/Patient/${id}`, patientBody(other))

    expect(response.status).toBe(400)
    expect(await errorCodeOf(response)).toBe('VALIDATION_FAILED')
    expect(await notificationsOf(id)).toEqual([])
    expect(await notificationsOf(other)).toEqual([])
  })

  it('rejects a body whose type differs from the path', async () => {
    const id = uniqueId('type')
    const body = JSON.stringify({ resourceType: 'Condition', id, subject: { reference: 'x' } })

    const response = await deliver('PUT', `/Patient/${id}`, body)

    expect(response.status).toBe(400)
    expect(await errorCodeOf(response)).toBe('VALIDATION_FAILED')
    expect(await notificationsOf(id)).toEqual([])
  })

  it('rejects malformed JSON in a PUT', async () => {
    const id = uniqueId('malformed')

    const response = await deliver('PUT', `/Patient/${id}`, '{"resourceType": "Patient", "id":')

    expect(response.status).toBe(400)
    expect(await errorCodeOf(response)).toBe('MALFORMED_REQUEST')
    expect(await notificationsOf(id)).toEqual([])
  })

  it('rejects malformed JSON in a POST', async () => {
    const response = await deliver('POST', '', '{"resourceType": "Bundle", ')

    expect(response.status).toBe(400)
    expect(await errorCodeOf(response)).toBe('MALFORMED_REQUEST')
  })

  it('rejects a POST of a resource other than a Bundle', async () => {
    const id = uniqueId('not-bundle')

    const response = await deliver('POST', '', patientBody(id))

    expect(response.status).toBe(400)
    expect(await errorCodeOf(response)).toBe('VALIDATION_FAILED')
    expect(await notificationsOf(id)).toEqual([])
  })

  it('ignores a type it does not sync', async () => {
    const id = uniqueId('observation')
    const body = JSON.stringify({
      resourceType: 'Observation',
      id,
      status: 'final',
      code: { text: 'Heart rate' },
    })

    const response = await deliver('PUT', `/Observation/${id}`, body)

    expect(response.status).toBe(204)
    expect(await response.text()).toBe('')
    expect(await notificationsOf(id)).toEqual([])
  })

  it('accepts an empty POST with 204', async () => {
    const before = await lastNotificationId()

    const response = await deliver('POST', '', '')

    expect(response.status).toBe(204)
    expect(await response.text()).toBe('')
    expect(await lastNotificationId()).toBe(before)
  })
})

describe('receiver delivery', () => {
  it('ignores the If-Match header HAPI adds', async () => {
    const patient = await createSyncedPatient('IfMatch')
    const current = await t.hospital.read<FhirPatient>('Patient', patient.id)
    const before = await lastNotificationId()

    const response = await deliver('PUT', `/Patient/${patient.id}`, JSON.stringify(current), {
      Authorization: `Bearer ${secret}`,
      'If-Match': 'W/"3"',
    })
    const rows = await waitForProcessed(patient.id, 1, before)

    expect(response.status).toBe(204)
    expect(await response.text()).toBe('')
    expect(rows).toHaveLength(1)
    expect(rows[0]?.method).toBe('PUT')
    expect(rows[0]?.resource_type).toBe('Patient')
    expect(rows[0]?.version_id).toBe(1)
  })

  it('records a duplicated delivery once, or merges it as stale', async () => {
    const patient = await createSyncedPatient('Duplicate')
    const merged = await editAsHospital(patient.id, '+44 20 7946 0001')
    const payload = JSON.stringify(await historyVersion(patient.id, 2))
    const before = await lastNotificationId()

    const first = await deliver('PUT', `/Patient/${patient.id}`, payload)
    const second = await deliver('PUT', `/Patient/${patient.id}`, payload)
    const rows = await waitForProcessed(patient.id, 1, before)
    const after = await getPatient(patient.id)

    expect(first.status).toBe(204)
    expect(second.status).toBe(204)
    // The repeat is dropped while the first row waits; once that row is processed, a repeat is
    // recorded again and merged as stale.
    expect(rows.length).toBeLessThanOrEqual(2)
    expect(rows.every((row) => row.outcome === 'stale')).toBe(true)
    expect(after.version).toBe(merged.version)
    expect(after.sync.fhirVersionId).toBe(2)
    expect(after.telecom).toEqual([{ system: 'phone', value: '+44 20 7946 0001' }])
  })

  it('does not roll back to an older version', async () => {
    const patient = await createSyncedPatient('OutOfOrder')
    await editAsHospital(patient.id, '+44 20 7946 0002')
    const newest = await editAsHospital(patient.id, '+44 20 7946 0003')
    const version3 = await historyVersion(patient.id, 3)
    const version2 = await historyVersion(patient.id, 2)
    const before = await lastNotificationId()

    const newer = await deliver('PUT', `/Patient/${patient.id}`, JSON.stringify(version3))
    const older = await deliver('PUT', `/Patient/${patient.id}`, JSON.stringify(version2))
    const rows = await waitForProcessed(patient.id, 2, before)
    const after = await getPatient(patient.id)

    expect(version2.telecom).toEqual([{ system: 'phone', value: '+44 20 7946 0002' }])
    expect(newer.status).toBe(204)
    expect(older.status).toBe(204)
    expect(rows.map((row) => row.version_id)).toEqual([3, 2])
    expect(rows.map((row) => row.outcome)).toEqual(['stale', 'stale'])
    expect(after.telecom).toEqual([{ system: 'phone', value: '+44 20 7946 0003' }])
    expect(after.sync.fhirVersionId).toBe(3)
    expect(after.version).toBe(newest.version)
  })

  it('keeps a row whose DELETE HAPI does not confirm', async () => {
    const patient = await createSyncedPatient('StillThere')
    const before = await lastNotificationId()

    const response = await deliver('DELETE', `/Patient/${patient.id}`)
    const rows = await waitForProcessed(patient.id, 1, before)
    const after = await t.api('GET', `/patients/${patient.id}`)

    expect(response.status).toBe(204)
    expect(await response.text()).toBe('')
    expect(rows[0]?.method).toBe('DELETE')
    expect(rows[0]?.outcome).not.toBe('deleted')
    expect(after.status).toBe(200)
  })

  it('processes concurrent deliveries of one resource', async () => {
    const ids = Array.from({ length: 20 }, () => uniqueId('concurrent'))
    const before = await lastNotificationId()

    const responses = await Promise.all(
      ids.flatMap((id) =>
        ['1', '2'].map((versionId) =>
          deliver(
            'PUT',
            `/Patient/${id}`,
            JSON.stringify({ resourceType: 'Patient', id, meta: { versionId } }),
          ),
        ),
      ),
    )
    const processed = await Promise.all(ids.map((id) => waitForProcessed(id, 2, before)))

    expect(responses.map((response) => response.status)).toEqual(responses.map(() => 204))
    expect(processed.map((rows) => rows.length)).toEqual(ids.map(() => 2))
  })

  it('records a history Bundle delivery', async () => {
    const patient = await createSyncedPatient('Bundled')
    const current = await t.hospital.read<FhirPatient>('Patient', patient.id)
    if (!current) throw new Error(`Patient/${patient.id} is missing in HAPI`)
    // The merge reads what HAPI holds, so version 2 must really be written there. Its own
    // Subscription delivery is merged first, which makes the Bundle a duplicate delivery.
    const version2 = await t.hospital.update<FhirPatient>({
      ...current,
      telecom: [{ system: 'email', value: 'bundled@example.org' }],
    })
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'history',
      entry: [
        {
          fullUrl: `${t.hospital.baseUrl}/Patient/${patient.id}`,
          resource: version2,
          request: { method: 'PUT', url: `Patient/${patient.id}` },
          response: { status: '200 OK' },
        },
      ],
    }
    await waitFor('version 2 merged through the Subscription', async () => {
      const merged = await getPatient(patient.id)
      return merged.sync.fhirVersionId === 2 ? merged : undefined
    })
    const before = await lastNotificationId()

    const response = await deliver('POST', '', JSON.stringify(bundle))
    const rows = await waitForProcessed(patient.id, 1, before)
    const after = await getPatient(patient.id)

    expect(response.status).toBe(204)
    expect(await response.text()).toBe('')
    expect(rows.map((row) => [row.method, row.version_id, row.outcome])).toEqual([
      ['PUT', 2, 'stale'],
    ])
    expect(after.telecom).toEqual([{ system: 'email', value: 'bundled@example.org' }])
    expect(after.sync.fhirVersionId).toBe(2)
    expect(after.updatedBy).toBe('fhir-merge')
  })
})
